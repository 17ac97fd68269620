/**
 * Detached daemons of the loopback cluster. Each is recorded by PID and kernel start time, so stopping kills
 * only a process this code started, never one that later reused its PID.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import { setTimeout as delay } from "node:timers/promises";

export interface RecordedProcess {
  readonly name: string;
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: ticks since boot when the process started. */
  readonly startTime: string;
  readonly log: string;
}

export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are plain.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** True when the recorded process is still the one that was started (same PID and start time). */
export const isAlive = (p: RecordedProcess): boolean => {
  if (startTimeOf(p.pid) !== p.startTime) return false;
  // A zombie (exited, not yet reaped by its parent) is not running.
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${p.pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

/** Starts argv detached from this process, output appended to `log`. */
export function startDaemon(
  name: string,
  argv: readonly string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): RecordedProcess {
  const fd = fs.openSync(log, "a");
  try {
    const [file, ...args] = argv;
    const child = spawn(file, args, { detached: true, stdio: ["ignore", fd, fd], env });
    if (child.pid === undefined) throw new Error(`could not start ${name} (${file})`);
    child.unref();
    const startTime = startTimeOf(child.pid);
    if (startTime === undefined) throw new Error(`${name} exited at once; log tail:\n${logTail(log)}`);
    return { name, pid: child.pid, startTime, log };
  } finally {
    fs.closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; only if the process is still the recorded one. */
export async function stopDaemon(p: RecordedProcess, graceMs = 5_000): Promise<void> {
  if (!isAlive(p)) return;
  process.kill(p.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(p)) return;
    await delay(50);
  }
  if (isAlive(p)) process.kill(p.pid, "SIGKILL");
  while (isAlive(p)) await delay(20);
}

export function logTail(file: string, lines = 30): string {
  try {
    return fs
      .readFileSync(file, "utf8")
      .trimEnd()
      .split("\n")
      .slice(-lines)
      .map((l) => `  | ${l}`)
      .join("\n");
  } catch {
    return "  | (no log)";
  }
}
