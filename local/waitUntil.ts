/**
 * Waiting on loopback for a thing's own readiness signal, bounded: `observe` is polled until `accept` holds, and
 * at the deadline the error names what was awaited and what was last seen (the last value, or the last error).
 * The deadlines hold on a shared 2-core CI runner with a build beside the tests: a slow machine makes the wait
 * longer, never wrong, because what is awaited is the signal itself and not a neighbour's or a clock's.
 */
import { setTimeout as delay } from "node:timers/promises";

/**
 * An entry registered until its SVID is served (server cache reload and agent sync, 5 s each by default, plus the
 * sidecar's SDS stream), or a daemon started until it answers: a few seconds idle, several times that loaded.
 */
export const PROPAGATION_MS = 120_000;

export interface WaitOptions {
  /** Default PROPAGATION_MS. */
  readonly timeoutMs?: number;
  /** Pause between observations; default 250 ms. */
  readonly intervalMs?: number;
  /** Why waiting longer is pointless (the process died...), checked before each observation. */
  readonly hopeless?: () => string | undefined;
}

const shown = (seen: unknown): string => {
  const text = typeof seen === "string" ? seen : JSON.stringify(seen);
  return text === undefined ? String(seen) : text.length > 400 ? `${text.slice(0, 400)}...` : text;
};

/** The first observation `accept` holds for; thrown errors count as "not yet" and are reported as last seen. */
export async function waitUntil<T>(
  what: string,
  observe: () => Promise<T> | T,
  accept: (seen: T) => boolean,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? PROPAGATION_MS;
  const began = Date.now();
  let last = "nothing yet";
  for (;;) {
    const reason = options.hopeless?.();
    if (reason) throw new Error(`gave up waiting for ${what}: ${reason} (last seen: ${last})`);
    try {
      const seen = await observe();
      if (accept(seen)) return seen;
      last = shown(seen);
    } catch (e) {
      last = `error: ${(e as Error).message}`;
    }
    if (Date.now() - began > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last seen: ${last})`);
    }
    await delay(options.intervalMs ?? 250);
  }
}
