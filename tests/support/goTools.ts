/** The Go tools scripts/build-validators.sh builds from tools/validate into .cache/bin. */
import { existsSync, readdirSync, statSync } from "node:fs";
import * as path from "node:path";

const repoRoot = path.resolve(__dirname, "../..");
const moduleDir = path.join(repoRoot, "tools", "validate");

/** Newest modification time of the files the tools are built from (the build script's staleness rule). */
function newestSourceTime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const entryPath = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceTime(entryPath));
    else if (/\.go$|^go\.(mod|sum)$/.test(entry.name)) newest = Math.max(newest, statSync(entryPath).mtimeMs);
  }
  return newest;
}

/**
 * The path of a built tool. Missing or older than its sources is an error naming the build command: a stale
 * binary would judge by yesterday's rules, and rebuilding is the script's job, not the test's.
 */
export function goTool(name: string): string {
  const binary = path.join(repoRoot, ".cache", "bin", name);
  if (!existsSync(binary) || statSync(binary).mtimeMs < newestSourceTime(moduleDir)) {
    throw new Error(`${name} not found or stale: run bash scripts/build-validators.sh`);
  }
  return binary;
}
