/** The suites' own mocha settings: a focused or skipped test fails the run, so CI never passes on a subset. */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "../..");

// Written at run time so that no focused or skipped test sits in the tree.
function runMochaOn(body: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mocharc-"));
  const file = path.join(dir, "probe.test.js");
  fs.writeFileSync(file, `describe("probe", () => {\n${body}\n});\n`);
  try {
    return spawnSync(process.execPath, [require.resolve("mocha/bin/mocha.js"), file], {
      cwd: repo,
      encoding: "utf8",
      timeout: 60_000,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe(".mocharc.json", function () {
  this.timeout(90_000);
  const focus = ["it", "only"].join(".");
  const skip = ["it", "skip"].join(".");

  it("runs a plain file and passes (the probe itself works)", () => {
    const run = runMochaOn(`it("a", () => {}); it("b", () => {});`);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /2 passing/);
  });

  it("fails a run holding a focused test", () => {
    const run = runMochaOn(`${focus}("a", () => {}); it("b", () => {});`);
    assert.notEqual(run.status, 0, run.stdout);
    assert.match(run.stdout + run.stderr, /forbid|only/i);
  });

  it("fails a run holding a skipped test", () => {
    const run = runMochaOn(`it("a", () => {}); ${skip}("b", () => {});`);
    assert.notEqual(run.status, 0, run.stdout);
    assert.match(run.stdout + run.stderr, /pending|forbid/i);
  });
});
