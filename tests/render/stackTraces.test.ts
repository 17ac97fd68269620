/** The render's memoized stack formatter: the same text as the formatter it wraps, each frame computed once. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { memoizeFrames, memoizeStackTraces } from "../../render/stackTraces";

type Format = (error: Error, frames: NodeJS.CallSite[]) => unknown;

/** The call sites V8 hands a formatter for a `new Error()` made here. */
function captureFrames(): NodeJS.CallSite[] {
  const saved = Error.prepareStackTrace;
  const savedLimit = Error.stackTraceLimit;
  Error.prepareStackTrace = (_error, frames) => frames;
  Error.stackTraceLimit = Number.POSITIVE_INFINITY;
  try {
    return new Error().stack as unknown as NodeJS.CallSite[];
  } finally {
    Error.prepareStackTrace = saved;
    Error.stackTraceLimit = savedLimit;
  }
}

class Thrower {
  method(depth: number): NodeJS.CallSite[] {
    return depth === 0 ? captureFrames() : this.method(depth - 1);
  }
}
const viaArrow = () => new Thrower().method(2);
async function viaAsync(): Promise<NodeJS.CallSite[]> {
  await Promise.resolve();
  return captureFrames();
}

/** A formatter whose text for a frame depends on its caller's line, as source-map-support's names do. */
function callerAwareFormat(calls: { count: number }): Format {
  return (error, frames) => {
    calls.count++;
    const lines = frames.map(
      (f, i) =>
        `\n    at ${f.getFunctionName()} ${f.getLineNumber()} called from ${frames[i + 1]?.getLineNumber()}`,
    );
    return `${error.name}: ${error.message}${lines.join("")}`;
  };
}

describe("memoized stack traces (render/stackTraces.ts)", () => {
  it("formats ts-node's source-mapped stacks character for character, Node's coded errors included", async () => {
    const sourceMapped = Error.prepareStackTrace as Format | undefined;
    assert.ok(sourceMapped, "mocha runs under ts-node, which installs source-map-support");
    const memoized = memoizeFrames(sourceMapped);
    let coded: Error | undefined;
    try {
      path.resolve(123 as unknown as string);
    } catch (e) {
      coded = e as Error;
    }
    assert.ok(coded && "code" in coded);
    const stacks = [captureFrames(), viaArrow(), new Thrower().method(5), await viaAsync()];
    // Twice: the first pass fills the memo, the second reads it.
    for (const pass of [1, 2]) {
      for (const [i, frames] of stacks.entries()) {
        for (const error of [new TypeError("boom"), coded] as Error[]) {
          const expected: string = String(sourceMapped(error, frames));
          assert.match(
            expected,
            /stackTraces\.test\.ts:\d+:\d+/,
            "the stack is mapped to the TypeScript source",
          );
          assert.equal(memoized(error, frames), expected, `pass ${pass}, stack ${i}`);
        }
      }
    }
  });

  it("keys each frame by its caller too, and formats a repeated stack without the wrapped formatter's frames", () => {
    const calls = { count: 0 };
    const format = callerAwareFormat(calls);
    const memoized = memoizeFrames(format);
    // The same innermost frames reached from two different callers.
    const fromArrow = viaArrow();
    const direct = new Thrower().method(2);
    const error = new Error("e");
    for (const frames of [fromArrow, direct, fromArrow, direct])
      assert.equal(memoized(error, frames), format(error, frames));
    calls.count = 0;
    memoized(error, direct);
    assert.equal(calls.count, 1, "only the header is formatted again for a stack seen before");
  });

  it("wraps the installed formatter once and leaves V8's own formatting alone", () => {
    const saved = Error.prepareStackTrace;
    try {
      (Error as { prepareStackTrace?: unknown }).prepareStackTrace = undefined;
      memoizeStackTraces();
      assert.equal(Error.prepareStackTrace, undefined);
      const calls = { count: 0 };
      Error.prepareStackTrace = callerAwareFormat(calls) as typeof Error.prepareStackTrace;
      memoizeStackTraces();
      const once = Error.prepareStackTrace;
      memoizeStackTraces();
      assert.equal(Error.prepareStackTrace, once);
      assert.match(String(new Error("x").stack), /^Error: x\n {4}at /);
      assert.ok(calls.count > 0);
    } finally {
      Error.prepareStackTrace = saved;
    }
  });
});
