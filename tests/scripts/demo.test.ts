/** `npm run demo` as a newcomer runs it: it must finish on its own, with every expected outcome held. */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

/**
 * The bound on the demo's run: "it finishes on its own". Its duration (about a minute idle) is printed, not
 * asserted: on a shared CI runner wall-clock time measures the neighbours, and the demo's own waits are for signals.
 */
const DEMO_BOUND_MS = 300_000;

describe("npm run demo", function () {
  this.timeout(DEMO_BOUND_MS + 10_000);

  it("shows blue and red answering, green failing, then green working once registered, then the gateway; exits 0", () => {
    const repo = path.resolve(__dirname, "../..");
    const started = Date.now();
    const run = spawnSync(process.execPath, [require.resolve("ts-node/dist/bin"), "scripts/demo.ts"], {
      cwd: repo,
      encoding: "utf8",
      timeout: DEMO_BOUND_MS,
    });
    const seconds = (Date.now() - started) / 1000;
    console.log(`      the demo took ${seconds.toFixed(1)} s`);
    assert.equal(
      run.status,
      0,
      `exit ${run.status} (${run.signal ?? "no signal"}) after ${seconds} s:\n${run.stdout}\n${run.stderr}`,
    );
    assert.match(run.stdout, /color_header: blue -> 200 blue/);
    assert.match(run.stdout, /color_header: red -> 200 red/);
    assert.match(run.stdout, /color_header: green -> 503/);
    assert.match(run.stdout, /color_header: green -> 200 green {2}\(\d+\.\d s after registration\)/);
    // Step 7: the gateway fails without its entry, then reaches the colours; its STRICT listener admits only front.
    assert.match(run.stdout, /GET \/color, color_header: blue -> ECONNREFUSED/);
    assert.match(run.stdout, /first 200 through the gateway \d+\.\d s after registration/);
    assert.match(run.stdout, /gateway \/color, color_header: blue -> 200 blue/);
    assert.match(run.stdout, /gateway \/color, color_header: red -> 200 red/);
    assert.match(run.stdout, /^ {4}plaintext -> (?!200)\S+$/m);
    assert.match(run.stdout, /^ {4}TLS without a client certificate -> (?!200)\S+$/m);
    assert.match(run.stdout, /^ {4}TLS as front \(the caller\) -> 200 blue$/m);
    assert.match(run.stdout, /^\d+ passed, 0 failed/m);
  });
});
