/** `npm run demo` as a newcomer runs it: it must finish on its own, with every expected outcome held. */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

describe("npm run demo", function () {
  this.timeout(180_000);

  it("shows blue and red answering, green failing, then green working once registered, then the gateway; exits 0", () => {
    const repo = path.resolve(__dirname, "../..");
    const started = Date.now();
    const run = spawnSync(process.execPath, [require.resolve("ts-node/dist/bin"), "scripts/demo.ts"], {
      cwd: repo,
      encoding: "utf8",
      timeout: 170_000,
    });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
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
    assert.ok(seconds < 120, `the demo took ${seconds} s`);
  });
});
