/**
 * npm run bench:entries — how fast 100 workload entries reach a real spire-server 1.13.3:
 *   runner           one `node bin/spire-entry.js <create plan>` per entry, one at a time: what SpireEntry runs
 *   parallel runner  the same plans, all started at once: `pulumi up` runs independent resource operations
 *                    concurrently (up to its --parallel) and every SpireEntry depends only on the installation
 *   plain CLI        one `spire-server entry create` per entry, one at a time: the runner minus its Node process
 *   batch            one `spire-server entry create -data <file>` holding all 100
 *   entry set        SpireEntrySet's create: one `node bin/spire-entry-set.js <step>` with the plan on stdin, which
 *                    reads what the server holds (`entry show`) and creates the 100 in one batch call, entries on
 *                    stdin
 * Every run must leave exactly the 100 entries (checked against `entry show`); a batch `entry delete -file`
 * clears them before the next. Modes are interleaved within each repetition so drift hits all of them alike.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { killAll } from "../local/processes";
import { HARNESS_TRUST_DOMAIN, type SpireHarness, startSpire } from "../local/spireHarness";
import { entryCommands, entryPlans, type ResolvedEntry } from "../spire/entries";
import { type EntrySetMember, entrySetCommand, entrySetCommands, resolveEntrySet } from "../spire/entrySet";
import { describeMachine, fixed, machine, median, secondsSince, table, writeSection } from "./machine";

const COUNT = 100;
const RUNS = 3;
/** Process start-up floors, sampled this many times each. */
const FLOOR_SAMPLES = 10;
const REPO_ROOT = path.resolve(__dirname, "..");
const RUNNER = path.join(REPO_ROOT, "bin", "spire-entry.js");
const SET_RUNNER = path.join(REPO_ROOT, "bin", "spire-entry-set.js");
const TD = `spiffe://${HARNESS_TRUST_DOMAIN}`;
const ALIAS = `${TD}/bench/node`;
const PREFIX = "/bench/svc-";

type Mode = "runner" | "parallel runner" | "plain CLI" | "batch" | "entry set";
const MODES: readonly Mode[] = ["runner", "parallel runner", "plain CLI", "batch", "entry set"];
const CTX = { trustDomain: HARNESS_TRUST_DOMAIN, selectorTypes: ["unix"] };

/** Distinct uids; the TTL is set so the batch file and the flags carry the same content. */
const benchMembers = (): EntrySetMember[] =>
  Array.from({ length: COUNT }, (_, i) => ({
    name: `svc-${i}`,
    spiffeId: `${TD}${PREFIX}${i}`,
    parentId: ALIAS,
    selectors: [`unix:uid:${20000 + i}`],
    x509SvidTtl: "1h",
  }));

/** The entries as SpireEntrySet resolves them: IDs `spire-mesh.bench.svc-<i>`, as SpireEntry would derive too. */
const benchEntries = (): ResolvedEntry[] =>
  resolveEntrySet("bench", "spire-mesh", "bench", benchMembers(), CTX);

function runSync(file: string, args: readonly string[], input?: string): string {
  const r = spawnSync(file, args, { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000, input });
  if (r.error) throw r.error;
  if (r.status !== 0)
    throw new Error(`${path.basename(file)} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function runAsync(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (status) =>
      status === 0 ? resolve(out) : reject(new Error(`${path.basename(file)} exited ${status}: ${err}`)),
    );
  });
}

/** `-output json` create/delete results: every per-entry status must be OK (code 0). */
function expectAllOk(stdout: string, count: number, what: string): void {
  const results = (JSON.parse(stdout) as { results: { status?: { code?: number; message?: string } }[] })
    .results;
  const failed = results.filter((r) => (r.status?.code ?? 0) !== 0);
  if (results.length !== count || failed.length > 0) {
    throw new Error(
      `${what}: ${results.length} results, ${failed.length} failed: ${failed[0]?.status?.message}`,
    );
  }
}

const expectCreated = (stdout: string, entryId: string): void => {
  const outcome = JSON.parse(stdout) as { entryId: string; outcome: string };
  if (outcome.entryId !== entryId || outcome.outcome !== "created")
    throw new Error(`runner for ${entryId}: ${stdout.trim()}`);
};

class Bench {
  private readonly dataFile: string;

  constructor(
    private readonly h: SpireHarness,
    private readonly entries: readonly ResolvedEntry[],
  ) {
    this.dataFile = path.join(h.dataDir, "bench-entries.json");
    // The -data shape: plain-string IDs (not the {trust_domain, path} objects `entry show` prints).
    const data = entries.map((e) => ({
      entry_id: e.entryId,
      spiffe_id: e.spiffeId,
      parent_id: e.parentId,
      selectors: e.selectors,
      x509_svid_ttl: e.x509SvidTtl,
    }));
    fs.writeFileSync(this.dataFile, JSON.stringify({ entries: data }));
  }

  private plans = () =>
    this.entries.map((e) => entryPlans(entryCommands([this.h.serverBin], e, this.h.serverSocket), e));

  /** Registers all entries in one mode; returns wall-clock seconds. Plans are built before the clock starts. */
  async create(mode: Mode): Promise<number> {
    const plans = this.plans();
    const argv = this.entries.map((e) => entryCommands([], e, this.h.serverSocket).create);
    const setPlan = entrySetCommand(entrySetCommands([this.h.serverBin], this.h.serverSocket), this.entries);
    const start = process.hrtime.bigint();
    if (mode === "runner") {
      for (const [i, p] of plans.entries())
        expectCreated(runSync(process.execPath, [RUNNER, p.create]), this.entries[i].entryId);
    } else if (mode === "parallel runner") {
      const outs = await Promise.all(plans.map((p) => runAsync(process.execPath, [RUNNER, p.create])));
      for (const [i, out] of outs.entries()) expectCreated(out, this.entries[i].entryId);
    } else if (mode === "plain CLI") {
      for (const args of argv) expectAllOk(runSync(this.h.serverBin, args), 1, "entry create");
    } else if (mode === "entry set") {
      const out = JSON.parse(runSync(process.execPath, [SET_RUNNER, setPlan.create], setPlan.stdin));
      if (out.created !== COUNT) throw new Error(`entry set created ${out.created}, not ${COUNT}`);
    } else {
      const out = runSync(this.h.serverBin, [
        "entry",
        "create",
        "-socketPath",
        this.h.serverSocket,
        "-data",
        this.dataFile,
        "-output",
        "json",
      ]);
      expectAllOk(out, COUNT, "batch entry create");
    }
    return secondsSince(start);
  }

  /** Exactly the expected bench entries exist, nothing more or less. */
  verify(expected: number): void {
    const ids = this.h
      .entries()
      .filter((e) => e.spiffe_id.path.startsWith(PREFIX))
      .map((e) => e.id)
      .sort();
    const want = expected === 0 ? [] : this.entries.map((e) => e.entryId).sort();
    if (JSON.stringify(ids) !== JSON.stringify(want)) {
      throw new Error(`expected ${expected} bench entries, found ${ids.length}`);
    }
  }

  deleteAll(): void {
    const file = path.join(this.h.dataDir, "bench-ids.json");
    fs.writeFileSync(file, JSON.stringify({ ids: this.entries.map((e) => e.entryId) }));
    const out = runSync(this.h.serverBin, [
      "entry",
      "delete",
      "-socketPath",
      this.h.serverSocket,
      "-file",
      file,
      "-output",
      "json",
    ]);
    expectAllOk(out, COUNT, "batch entry delete");
    this.verify(0);
  }
}

/** Median seconds to start a process that does nothing useful: where per-entry time goes. */
function floor(file: string, args: readonly string[]): number {
  const samples = Array.from({ length: FLOOR_SAMPLES }, () => {
    const start = process.hrtime.bigint();
    runSync(file, args);
    return secondsSince(start);
  });
  return median(samples);
}

async function main(): Promise<void> {
  const m = machine();
  console.log(`machine: ${describeMachine(m)}`);
  const h = await startSpire({ agentAlias: ALIAS });
  try {
    const bench = new Bench(h, benchEntries());
    // Warm the server's datastore and the page cache for both binaries; not timed.
    await bench.create("plain CLI");
    bench.deleteAll();
    const times = Object.fromEntries(MODES.map((mode) => [mode, []])) as unknown as Record<Mode, number[]>;
    for (let run = 1; run <= RUNS; run++) {
      for (const mode of MODES) {
        const seconds = await bench.create(mode);
        bench.verify(COUNT);
        bench.deleteAll();
        times[mode].push(seconds);
        console.log(
          `run ${run} ${mode.padEnd(15)} ${fixed(seconds)} s (${fixed(COUNT / seconds, 1)} entries/s)`,
        );
      }
    }
    const nodeFloor = floor(process.execPath, ["-e", ""]);
    const cliFloor = floor(h.serverBin, ["entry", "count", "-socketPath", h.serverSocket]);
    report(m, times, nodeFloor, cliFloor);
  } finally {
    await h.stop();
  }
}

function report(
  m: ReturnType<typeof machine>,
  times: Record<Mode, number[]>,
  nodeFloor: number,
  cliFloor: number,
): void {
  const med = Object.fromEntries(MODES.map((mode) => [mode, median(times[mode])])) as Record<Mode, number>;
  const ratio = (mode: Mode) => `${fixed(med[mode] / med.batch, 1)}×`;
  const rows = MODES.map((mode) => [
    mode,
    times[mode].map((t) => fixed(t)).join(", "),
    fixed(med[mode]),
    fixed((med[mode] / COUNT) * 1000, 1),
    fixed(COUNT / med[mode], 1),
    mode === "batch" ? "1×" : ratio(mode),
  ]);
  const body = [
    `Machine: ${describeMachine(m)}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    `${COUNT} workload entries (\`${TD}${PREFIX}<i>\`, parent \`${ALIAS}\`, one \`unix:uid\` selector, 1h TTL) ` +
      `registered against a real spire-server 1.13.3 (local/spireHarness.ts, sqlite, loopback). ` +
      `Median of N=${RUNS} runs after one untimed warm-up; each run verified to leave exactly ${COUNT} entries, ` +
      "then batch-deleted.",
    "",
    table(["mode", `runs (s)`, "median (s)", "ms/entry", "entries/s", "vs batch"], rows),
    "",
    `Process floors (median of ${FLOOR_SAMPLES}): \`node -e ""\` ${fixed(nodeFloor * 1000, 0)} ms; ` +
      `\`spire-server entry count\` (start-up + one RPC) ${fixed(cliFloor * 1000, 0)} ms.`,
    `Runner overhead per entry (runner − plain CLI): ${fixed(((med.runner - med["plain CLI"]) / COUNT) * 1000, 1)} ms.`,
    "",
    "Modes: **runner** = `node bin/spire-entry.js <create plan>` per entry, sequentially (what each " +
      "SpireEntry's command runs); **parallel runner** = the same 100 processes started at once (`pulumi up` " +
      "runs independent operations concurrently, up to its `--parallel`, and entries depend only on the " +
      "installation); **plain CLI** = `spire-server entry create` per entry, sequentially; **batch** = one " +
      "`entry create -data <file> -output json` with all 100; **entry set** = what SpireEntrySet's create runs: " +
      "`node bin/spire-entry-set.js <step>` with the plan on stdin, which lists the server's entries and creates the missing ones in one " +
      "batch call (entries on stdin). Goal for the entry set: at most 1 s.",
  ].join("\n");
  writeSection("Entry registration throughput", body);
  console.log(`\n${body}`);
}

main()
  .catch((e: Error) => {
    console.error(e.stack ?? e.message);
    process.exitCode = 1;
  })
  .finally(() => killAll());
