/**
 * Every long-running child a test starts (SPIRE, apps, sidecars) is tracked here and killed when mocha ends,
 * whether tests passed or failed, so no process outlives the run.
 */
import type { ChildProcess } from "node:child_process";

const running = new Set<ChildProcess>();

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
}

// Last resort when mocha exits abnormally: 'exit' handlers may only do synchronous work, and kill() is.
process.on("exit", () => killAll());
