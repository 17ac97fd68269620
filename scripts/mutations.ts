/**
 * `npm run test:mutations`: applies one-line mutations to the product code, one at a time, in a scratch copy of
 * the committed tree (HEAD), runs the tests that should catch each, and fails if any mutation survives. The
 * same tests are first run on the unmutated copy: a mutation only counts as caught when the tests that pass
 * without it fail with it. A mutation whose text no longer occurs exactly once is reported as stale, so the
 * list cannot rot silently.
 *
 * Usage: npm run test:mutations [-- --only <name>]
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { MUTATIONS, type Mutation } from "./mutationList";

const repo = path.resolve(__dirname, "..");

/** HEAD's files in a scratch folder, with the checkout's installed packages and built tools linked in. */
function scratchCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spire-mesh-mutations-"));
  const archive = spawnSync("bash", ["-c", `git archive HEAD | tar -x -C "${dir}"`], { cwd: repo });
  if (archive.status !== 0) throw new Error(`git archive failed: ${archive.stderr}`);
  // The tests call a built tool stale when its sources are newer (scripts/build-validators.sh's rule); the copy's
  // sources carry the commit's time, so date them back: the tools themselves are the checkout's, already built.
  spawnSync("bash", ["-c", `find "${dir}/tools" -type f -exec touch -d 2000-01-01 {} +`]);
  for (const link of ["node_modules", "policy/node_modules", ".cache"]) {
    if (!fs.existsSync(path.join(repo, link))) throw new Error(`${link} is missing: run npm run setup first`);
    fs.symlinkSync(fs.realpathSync(path.join(repo, link)), path.join(dir, link));
  }
  // The examples' renders import the package by name, that is its build in dist/.
  const build = spawnSync(
    process.execPath,
    [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: dir,
      encoding: "utf8",
    },
  );
  if (build.status !== 0) throw new Error(`npm run build failed in the scratch copy:\n${build.stdout}`);
  return dir;
}

interface TestRun {
  readonly ok: boolean;
  readonly passing: number;
  readonly failing: number;
  readonly seconds: number;
  readonly tail: string;
}

function runTests(dir: string, m: Pick<Mutation, "tests" | "grep">): TestRun {
  const started = Date.now();
  const args = [require.resolve("mocha/bin/mocha.js"), ...m.tests, ...(m.grep ? ["-g", m.grep] : [])];
  const run = spawnSync(process.execPath, args, { cwd: dir, encoding: "utf8", timeout: 15 * 60_000 });
  const out = `${run.stdout}${run.stderr}`;
  const count = (word: string) => Number(out.match(new RegExp(`(\\d+) ${word}`))?.[1] ?? 0);
  return {
    ok: run.status === 0,
    passing: count("passing"),
    failing: count("failing"),
    seconds: (Date.now() - started) / 1000,
    tail: out.trim().split("\n").slice(-15).join("\n"),
  };
}

function apply(dir: string, m: Mutation): string {
  const file = path.join(dir, m.file);
  const original = fs.readFileSync(file, "utf8");
  const at = original.indexOf(m.from);
  if (at < 0 || original.indexOf(m.from, at + 1) >= 0) {
    throw new Error(`stale mutation ${m.name}: "${m.from}" must occur exactly once in ${m.file}`);
  }
  fs.writeFileSync(file, original.replace(m.from, m.to));
  return original;
}

function main(): void {
  const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
  const chosen = MUTATIONS.filter((m) => only === undefined || m.name === only);
  if (chosen.length === 0) throw new Error(`no mutation named ${only}`);
  const dir = scratchCopy();
  const baselines = new Map<string, TestRun>();
  const rows: string[] = [];
  let survivors = 0;
  try {
    for (const m of chosen) {
      const key = JSON.stringify([m.tests, m.grep]);
      if (!baselines.has(key)) baselines.set(key, runTests(dir, m));
      const baseline = baselines.get(key) as TestRun;
      if (!baseline.ok || baseline.passing === 0) {
        throw new Error(
          `the tests for ${m.name} do not pass unmutated (${baseline.passing} passing):\n${baseline.tail}`,
        );
      }
      const file = path.join(dir, m.file);
      const { atime, mtime } = fs.statSync(file);
      const original = apply(dir, m);
      let result: TestRun;
      try {
        result = runTests(dir, m);
      } finally {
        fs.writeFileSync(file, original);
        // Its time too: the runners refuse a dist/spire/ build older than its source (bin/lib/built.js).
        fs.utimesSync(file, atime, mtime);
      }
      const caught = !result.ok && result.failing > 0;
      if (!caught) survivors++;
      rows.push(
        `| ${m.name} | \`${m.file}\` | ${m.tests.join(", ")}${m.grep ? ` (-g "${m.grep}")` : ""} | ` +
          `${baseline.passing} pass → ${result.failing} fail | ${caught ? "caught" : "SURVIVED"} | ${result.seconds.toFixed(0)} s |`,
      );
      console.log(rows[rows.length - 1]);
      if (!caught) console.log(result.tail);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    [
      "",
      "| mutation | file | tests | unmutated → mutated | outcome | time |",
      "| --- | --- | --- | --- | --- | --- |",
      ...rows,
    ].join("\n"),
  );
  console.log(`\nmutations: ${chosen.length - survivors} passed, ${survivors} failed`);
  process.exitCode = survivors > 0 ? 1 : 0;
}

main();
