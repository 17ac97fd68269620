import * as fs from "node:fs";
import * as path from "node:path";

/** File names of the demo apps, as they appear in the ConfigMap and under /app in the pods. */
const APP_FILES = ["front-app.js", "color-app.js"] as const;

/**
 * The repository root: the nearest directory at or above this module holding a package.json.
 * This module runs from app/ under ts-node and from dist/app/ once compiled, and tsc does not copy
 * the .js apps into dist/, so the apps are always read from <root>/app rather than next to __dirname.
 */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json at or above ${__dirname}`);
  }
}

/**
 * The demo apps' source text keyed by file name, for the ConfigMap that ships them to the pods.
 * Read on each call rather than at import, so importing this module never touches the filesystem.
 */
export function appSources(): Readonly<Record<string, string>> {
  const appDir = path.join(packageRoot(), "app");
  const sources: Record<string, string> = {};
  for (const file of APP_FILES) sources[file] = fs.readFileSync(path.join(appDir, file), "utf8");
  return Object.freeze(sources);
}
