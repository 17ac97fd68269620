/**
 * The Node.js versions the project states, each read from the one place that sets it: the oldest supported major
 * (package.json engines), the version setup installs on an older machine and the floor it installs below
 * (scripts/install-node.sh), and the typings (@types/node).
 */
import * as fs from "node:fs";
import * as path from "node:path";

export const REPO_ROOT = path.resolve(__dirname, "../..");
export const INSTALL_NODE = path.join(REPO_ROOT, "scripts", "install-node.sh");

const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, file), "utf8"));

/** The major of an `engines.node` range, which must have the form `>=N`. */
export function enginesFloor(packageJson: string): number {
  const range = readJson(packageJson).engines?.node;
  const match = /^>=(\d+)$/.exec(String(range));
  if (!match) throw new Error(`${packageJson} engines.node = ${JSON.stringify(range)}: must be ">=<major>"`);
  return Number(match[1]);
}

/** The exact @types/node a package.json pins (a devDependency). */
export function typesNodeVersion(packageJson: string): string {
  const version = readJson(packageJson).devDependencies?.["@types/node"];
  if (!/^\d+\.\d+\.\d+$/.test(String(version))) {
    throw new Error(
      `${packageJson} devDependencies["@types/node"] = ${JSON.stringify(version)}: must be exact`,
    );
  }
  return version;
}

/** A shell assignment `NAME=value` or `NAME="value"` at the start of a line of scripts/install-node.sh. */
function installNodeSetting(name: string): string {
  const match = new RegExp(`^${name}="?([^"\\s]+)"?$`, "m").exec(fs.readFileSync(INSTALL_NODE, "utf8"));
  if (!match) throw new Error(`no ${name}= line in ${INSTALL_NODE}`);
  return match[1];
}

/** The Node.js setup installs into .cache/node (e.g. "24.19.0"). */
export const installedNodeVersion = (): string => installNodeSetting("NODE_VERSION");
/** The machine's Node.js major below which setup installs its own. */
export const installFloor = (): number => Number(installNodeSetting("MIN_MAJOR"));

export const major = (version: string): number => Number(/^v?(\d+)\./.exec(version)?.[1] ?? Number.NaN);
