/**
 * The Pulumi SDK formats a `new Error().stack` for every resource it registers (Resource.callsites, with no
 * frame limit) and for every promise it tracks (runtime/debuggable.js). Under ts-node each of those goes
 * through source-map-support, which clones and maps every frame again: at 200 services that was two thirds of a
 * render. A program registers from a few hundred distinct call sites, so the mapped text of each frame is
 * remembered and the stacks come out the same, character for character, at the cost of a map lookup.
 */

type PrepareStackTrace = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** Marks our wrapper, so installing twice does not wrap it twice. */
const MEMOIZED = Symbol.for("spire-mesh.memoizedStackTraces");

/**
 * Wraps `format` (a stack formatter such as source-map-support's) so each frame's text is computed once. The
 * formatter names a frame after the source position of its caller's call (source-map-support's `nextPosition`),
 * so a frame's text is keyed by its own V8 description and its caller's.
 */
export function memoizeFrames(format: PrepareStackTrace): PrepareStackTrace {
  const frameText = new Map<string, string>();
  // A bare error with a fixed name: the formatter's header is then known and cut off.
  const probe = { name: "E", message: "" } as Error;
  const header = String(format(probe, []));
  /** The text of frame `i`; `keys` are the frames' own V8 descriptions, computed once per stack. */
  const textOf = (frames: readonly NodeJS.CallSite[], keys: readonly string[], i: number): string => {
    const caller = frames[i + 1];
    const key = `${keys[i]}\n${keys[i + 1] ?? ""}`;
    let text = frameText.get(key);
    if (text === undefined) {
      // The frame formatted with its caller below it, minus the caller's own line.
      const pair = String(format(probe, caller ? [frames[i], caller] : [frames[i]]));
      const callerAlone = caller ? String(format(probe, [caller])).slice(header.length) : "";
      text = pair.slice(header.length, pair.length - callerAlone.length);
      frameText.set(key, text);
    }
    return text;
  };
  const memoized: PrepareStackTrace = (error, frames) => {
    const keys = frames.map(String);
    const lines = frames.map((_, i) => textOf(frames, keys, i));
    // The header exactly as the formatter writes it (Node's own errors carry their code).
    return String(format(error, [])) + lines.join("");
  };
  Object.defineProperty(memoized, MEMOIZED, { value: true });
  return memoized;
}

/**
 * Puts the memoizing wrapper around the process's current stack formatter, if one is installed (ts-node installs
 * source-map-support's); V8's built-in formatting is already cheap and is left alone.
 */
export function memoizeStackTraces(): void {
  const current = Error.prepareStackTrace as PrepareStackTrace | undefined;
  if (current === undefined || MEMOIZED in current) return;
  Error.prepareStackTrace = memoizeFrames(current);
}
