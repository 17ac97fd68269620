/**
 * Every long-running child a test starts (SPIRE, apps, sidecars) is tracked here and killed when mocha ends,
 * whether tests passed or failed, so no process outlives the run.
 */
import type { ChildProcess } from "node:child_process";

const running = new Set<ChildProcess>();
/** Daemons that are not our children (PostgreSQL's postmaster forks away from pg_ctl): their PIDs. */
const daemonPids = new Set<number>();

export function trackPid(pid: number): void {
  daemonPids.add(pid);
}

export function untrackPid(pid: number): void {
  daemonPids.delete(pid);
}

export function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once("exit", () => running.delete(child));
  return child;
}

export function killAll(signal: NodeJS.Signals = "SIGKILL"): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
  running.clear();
  for (const pid of daemonPids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
  daemonPids.clear();
}

// Last resort when mocha exits abnormally: 'exit' handlers may only do synchronous work, and kill() is.
process.on("exit", () => killAll());
