import * as fs from "node:fs";
import * as path from "node:path";
import { packageRoot } from "./packageRoot";

/**
 * File names of the demo apps, as they appear in the ConfigMap and under /app in the pods. tsc does not copy
 * them into dist/, so they are always read from <package>/app.
 */
const APP_FILES = ["front-app.js", "color-app.js"] as const;

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
