/**
 * The runners take their pure logic from the build of spire/ (dist/spire/): without it, or with one older than
 * its source, they stop before any server call, naming the file and `npm run build`.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "../..");
const RUNNERS = {
  "spire-entry.js": "entryDiff",
  "spire-entry-set.js": "entryDiff",
  "spire-bundle.js": "publicBundle",
};

describe("bin/*.js: the compiled spire/ modules they load", () => {
  let root: string;

  beforeEach(() => {
    // A package copy: bin/ as shipped, and (per test) dist/spire/ and spire/ as a checkout has them.
    root = fs.mkdtempSync(path.join(os.tmpdir(), "runner-dist-"));
    fs.cpSync(path.join(REPO_ROOT, "bin"), path.join(root, "bin"), { recursive: true });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const run = (runner: string) =>
    spawnSync(process.execPath, [path.join(root, "bin", runner), JSON.stringify({ step: "nonsense" })], {
      encoding: "utf8",
      timeout: 20_000,
    });
  const copy = (from: string, to = from) => {
    fs.mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
    fs.copyFileSync(path.join(REPO_ROOT, from), path.join(root, to));
  };

  for (const [runner, module] of Object.entries(RUNNERS)) {
    it(`${runner}: without dist/spire/${module}.js it fails naming the file and npm run build`, () => {
      const r = run(runner);
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `spire-mesh: ${path.join(root, "dist", "spire", `${module}.js`)} is missing: run npm run build (the runners use the compiled spire/)`,
      );
    });

    it(`${runner}: with a build older than spire/${module}.ts it fails the same way; a fresh one loads`, () => {
      copy(`dist/spire/${module}.js`);
      copy(`spire/${module}.ts`);
      const built = path.join(root, "dist", "spire", `${module}.js`);
      const source = path.join(root, "spire", `${module}.ts`);
      fs.utimesSync(built, new Date(2000, 0, 1), new Date(2000, 0, 1));
      const stale = run(runner);
      assert.equal(stale.status, 1);
      assert.match(
        stale.stderr,
        new RegExp(
          `${built.replace(/[.]/g, "\\.")} is older than ${source.replace(/[.]/g, "\\.")}: run npm run build`,
        ),
      );
      fs.utimesSync(source, new Date(1999, 0, 1), new Date(1999, 0, 1));
      // Loaded: the runner gets as far as refusing the step.
      const fresh = run(runner);
      assert.equal(fresh.status, 1);
      assert.match(fresh.stderr, /unknown step "nonsense"/);
      assert.doesNotMatch(fresh.stderr, /npm run build/);
    });
  }
});
