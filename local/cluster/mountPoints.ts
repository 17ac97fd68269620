/**
 * The host directories kwok's private mount namespace binds the SPIRE server image's paths onto. Several
 * clusters may share them (the real-engine suites run in parallel), and removing a directory that is a mount
 * point in another namespace detaches that mount there (Linux >= 3.18): so a cluster going down removes only the
 * directories it created and no other process still mounts on.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** Creates `target` and any missing parents; returns the directories it created, deepest last. */
export function mkdirRecorded(target: string): string[] {
  const missing: string[] = [];
  for (let p = target; !fs.existsSync(p); p = path.dirname(p)) missing.unshift(p);
  for (const p of missing) fs.mkdirSync(p);
  return missing;
}

/** Whether any running process sees a mount on `dir` (field 5 of /proc/<pid>/mountinfo is the mount point). */
export function mountedAnywhere(dir: string): boolean {
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let mountinfo: string;
    try {
      mountinfo = fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8");
    } catch {
      continue; // the process ended meanwhile
    }
    if (mountinfo.split("\n").some((line) => line.split(" ")[4] === dir)) return true;
  }
  return false;
}

/** Removes the created directories, deepest first, leaving any still mounted on, not empty, or already gone. */
export function removeCreatedMountPoints(created: readonly string[]): void {
  const inUse = new Set<string>();
  for (const dir of [...created].reverse()) {
    if ([...inUse].some((used) => used === dir || used.startsWith(`${dir}/`)) || mountedAnywhere(dir)) {
      inUse.add(dir);
      continue;
    }
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty or already gone: leave it
    }
  }
}

/**
 * argv that runs `script` (a fixed sh script, its data as arguments `args`, never interpolated) in a mount
 * namespace of its own, so the bind mounts it makes are seen by it and what it execs only.
 */
export function inPrivateMountNamespace(script: string, args: readonly string[]): string[] {
  return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh", ...args];
}
