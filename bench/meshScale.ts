/**
 * npm run bench:scale [-- --sizes 50,200 --modes perEntry,batch --runs 1] — bench/mesh-scale under the real
 * engine on one loopback cluster, per size and entry registration mode, each run on a new stack: render (in
 * process and `npm run render`), then preview, up, no-change preview, an up changing one service, an up adding
 * ten, destroy. Per step: wall time, peak RSS of the language host's program process and of the Kubernetes
 * provider, `kubectl exec` calls (a logging kubectl first on the engine's PATH), and the SPIRE server's exact
 * entry count; the state file's size per service after the up; no object of the stack left after destroy. A
 * step that fails or runs out of time stops the bench with a message naming it, and every process it started is
 * stopped (the CLI's tree, then the cluster).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { clusterDown, clusterUp, KUBERNETES_BIN_DIR, REPO_ROOT } from "../local/cluster/cluster";
import {
  checkpointFile,
  descendantsOf,
  initStack,
  killRunning,
  type PulumiStack,
  pulumi,
  pulumiOk,
} from "../local/pulumiCli";
import { renderProgram } from "../render/runtime";
import { countingKubectl, execCalls } from "./kubectlShim";
import { describeMachine, fixed, machine, median, secondsSince, table } from "./machine";

const PROJECT = path.join(REPO_ROOT, "bench", "mesh-scale");
const ADDED = 10;
const STEPS = [
  "preview",
  "up",
  "no-change preview",
  "one-service change",
  `add ${ADDED}`,
  "destroy",
] as const;
type Step = (typeof STEPS)[number];
const MODES = ["perEntry", "batch"] as const;
type Mode = (typeof MODES)[number];
/** A step slower than this is a capacity problem, not a figure: the bench stops and says so. */
const STEP_TIMEOUT_MS = 45 * 60_000;
/** Below this much available memory a step is not started: the machine, not the library, would be measured. */
const MIN_AVAILABLE_MIB = 1024;

interface StepFigures {
  seconds: number;
  languageHostMiB: number;
  providerMiB: number;
  execs: number;
  /** Entries on the server after the step; undefined after destroy (the server is gone with it). */
  entries?: number;
  expectedEntries?: number;
}

interface RunFigures {
  readonly services: number;
  readonly mode: Mode;
  readonly renderInProcess: number;
  readonly renderCli: number;
  readonly stateBytesPerService: number;
  readonly steps: Record<Step, StepFigures>;
}

class BenchStop extends Error {}

/** Every stack this bench created: a CLI still running on one when the bench stops is killed with its tree. */
const started: PulumiStack[] = [];

function parseArgs(argv: readonly string[]) {
  const value = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
  };
  const sizes = value("--sizes", "50,200").split(",").map(Number);
  const modes = value("--modes", MODES.join(",")).split(",") as Mode[];
  const runs = Number(value("--runs", "1"));
  for (const n of sizes)
    if (!Number.isInteger(n) || n < 2) throw new Error(`--sizes: ${n} is not an integer service count >= 2`);
  for (const m of modes)
    if (!MODES.includes(m)) throw new Error(`--modes: ${m} is not one of ${MODES.join(", ")}`);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: ${runs} is not a positive integer`);
  return { sizes, modes, runs };
}

/** Peak resident set (VmHWM) of a process, in MiB; 0 once it has ended. */
function peakRssMiB(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const commandLine = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
};

/** Polls the CLI's descendants for the program's node process and the Kubernetes provider, keeping their peaks. */
function watchPeaks(pid: () => number | undefined) {
  const peaks = { languageHostMiB: 0, providerMiB: 0 };
  const timer = setInterval(() => {
    const cli = pid();
    if (cli === undefined) return;
    for (const p of descendantsOf(cli)) {
      const cmd = commandLine(p);
      // VmHWM is the process's own peak, so a poll only has to see the process once near its end.
      if (cmd.includes("@pulumi/pulumi/cmd/run"))
        peaks.languageHostMiB = Math.max(peaks.languageHostMiB, peakRssMiB(p));
      else if (cmd.includes("pulumi-resource-kubernetes"))
        peaks.providerMiB = Math.max(peaks.providerMiB, peakRssMiB(p));
    }
  }, 250);
  return { peaks, stop: () => clearInterval(timer) };
}

/**
 * What a failed CLI run said about its failures: its error lines and the diagnostics after them (a 200-service
 * run's output ends in pages of stack outputs, so its tail alone says nothing), then its summary.
 */
function failureLines(output: string): string {
  const lines = output.split("\n");
  const errors = lines.filter((l) => /error|failed|timed out/i.test(l)).slice(0, 40);
  const summaryAt = lines.findIndex((l) => l.startsWith("Resources:"));
  return [...errors, ...(summaryAt >= 0 ? lines.slice(summaryAt) : lines.slice(-20))].join("\n");
}

function availableMiB(): number {
  const info = fs.readFileSync("/proc/meminfo", "utf8");
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(info)?.[1] ?? 0) / 1024;
}

/** kubectl with the cluster's kubeconfig, not through the counting shim; argv, never a shell string. */
function kubectl(kubeconfig: string, args: readonly string[]): string {
  const r = spawnSync(path.join(KUBERNETES_BIN_DIR, "kubectl"), ["--kubeconfig", kubeconfig, ...args], {
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 256 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr.trim() || r.error?.message}`);
  return r.stdout;
}

/** The entries the SPIRE server holds, counted from `entry show -output json`. */
function serverEntries(kubeconfig: string): number {
  const shown = JSON.parse(
    kubectl(kubeconfig, [
      ...["exec", "-n", "spire", "spire-server-0", "-c", "spire-server", "--"],
      ...["/opt/spire/bin/spire-server", "entry", "show", "-output", "json"],
    ]),
  ) as { entries?: unknown[] };
  return shown.entries?.length ?? 0;
}

/** What destroy must leave: no namespace of the mesh or of SPIRE, no cluster-scoped SPIRE object. */
function leftovers(kubeconfig: string): string[] {
  const names = kubectl(kubeconfig, [
    "get",
    "namespaces,clusterroles,clusterrolebindings,csidrivers,persistentvolumes",
    "-o",
    "name",
  ])
    .split("\n")
    .filter(Boolean);
  return names.filter(
    (n) => /^namespace\/(bench-\d+|spire)$/.test(n) || /spire/.test(n) || n.startsWith("persistentvolume/"),
  );
}

async function renderTimes(services: number, mode: Mode): Promise<{ inProcess: number; cli: number }> {
  const overrides = { services: String(services), entryRegistration: mode };
  let start = process.hrtime.bigint();
  const result = await renderProgram({ stack: "bench", projectDir: PROJECT, overrides });
  const inProcess = secondsSince(start);
  if (result.outputs.serviceCount !== services)
    throw new BenchStop(
      `render: the program saw ${String(result.outputs.serviceCount)} services, not ${services}`,
    );
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "spm-scale-render-"));
  start = process.hrtime.bigint();
  const cli = spawnSync(
    process.execPath,
    [
      require.resolve("ts-node/dist/bin"),
      "scripts/render.ts",
      "--project",
      PROJECT,
      "--stack",
      "bench",
      "--out",
      out,
      "--config",
      `services=${services}`,
      "--config",
      `entryRegistration=${mode}`,
    ],
    { cwd: REPO_ROOT, encoding: "utf8", timeout: 600_000 },
  );
  const cliSeconds = secondsSince(start);
  fs.rmSync(out, { recursive: true, force: true });
  if (cli.status !== 0)
    throw new BenchStop(`npm run render exited ${cli.status ?? cli.signal}: ${cli.stderr}`);
  return { inProcess, cli: cliSeconds };
}

async function measure(
  services: number,
  mode: Mode,
  run: number,
  workDir: string,
  kubeconfig: string,
): Promise<RunFigures> {
  const label = `N=${services} ${mode} run ${run}`;
  const rendered = await renderTimes(services, mode);
  console.log(
    `${label}: render ${fixed(rendered.inProcess, 2)} s in process, ${fixed(rendered.cli, 2)} s npm run render`,
  );
  const dir = path.join(workDir, `${mode}-${services}-${run}`);
  const log = path.join(dir, "kubectl.log");
  countingKubectl(path.join(dir, "shim"), log);
  const stack = initStack({ projectDir: PROJECT, stack: "bench", workDir: dir, kubeconfig });
  started.push(stack);
  stack.env.PATH = `${path.join(dir, "shim")}:${stack.env.PATH}`;
  await pulumiOk(stack, ["config", "set", "services", String(services)]);
  await pulumiOk(stack, ["config", "set", "entryRegistration", mode]);
  await pulumiOk(stack, ["config", "set", "revision", "1"]);
  const steps = {} as Record<Step, StepFigures>;
  let stateBytes = 0;
  const expectedEntries = async () =>
    Number((await pulumiOk(stack, ["stack", "output", "expectedEntries"])).stdout.trim());
  const step = async (name: Step, args: string[]) => {
    const free = availableMiB();
    if (free < MIN_AVAILABLE_MIB)
      throw new BenchStop(
        `${label}: step "${name}" not started: ${fixed(free, 0)} MiB of memory available, the bench needs ${MIN_AVAILABLE_MIB}`,
      );
    fs.rmSync(log, { force: true });
    let cli: number | undefined;
    const watch = watchPeaks(() => cli);
    const start = process.hrtime.bigint();
    const r = await pulumi(stack, args, {
      timeoutMs: STEP_TIMEOUT_MS,
      onSpawn: (pid) => {
        cli = pid;
      },
    });
    const seconds = secondsSince(start);
    watch.stop();
    if (r.status !== 0) {
      const why =
        seconds * 1000 >= STEP_TIMEOUT_MS
          ? `did not finish within ${STEP_TIMEOUT_MS / 60_000} min`
          : r.signal
            ? `was killed (${r.signal})`
            : `exited ${r.status}`;
      throw new BenchStop(
        `${label}: step "${name}" (pulumi ${args.join(" ")}) ${why}:\n${failureLines(r.stdout + r.stderr)}`,
      );
    }
    const figures: StepFigures = { seconds, ...watch.peaks, execs: execCalls(log) };
    if (name !== "destroy" && name !== "preview") {
      figures.expectedEntries = await expectedEntries();
      figures.entries = serverEntries(kubeconfig);
      if (figures.entries !== figures.expectedEntries)
        throw new BenchStop(
          `${label}: after "${name}" the server holds ${figures.entries} entries, the stack declares ${figures.expectedEntries}`,
        );
    }
    steps[name] = figures;
    console.log(
      `${label}: ${name} ${fixed(seconds, 1)} s, host ${fixed(figures.languageHostMiB, 0)} MiB, provider ${fixed(figures.providerMiB, 0)} MiB, ${figures.execs} exec, entries ${figures.entries ?? "-"}`,
    );
    return r;
  };
  const preview = JSON.parse((await step("preview", ["preview", "--json"])).stdout);
  const up = await step("up", ["up", "--yes", "--skip-preview"]);
  const created = Number(/\+ (\d+) created/.exec(up.stdout)?.[1]);
  if (created !== preview.changeSummary.create)
    throw new BenchStop(
      `${label}: preview planned ${preview.changeSummary.create} creates, up made ${created}`,
    );
  stateBytes = fs.statSync(checkpointFile(stack)).size;
  await step("no-change preview", ["preview", "--expect-no-changes"]);
  await pulumiOk(stack, ["config", "set", "revision", "2"]);
  await step("one-service change", ["up", "--yes", "--skip-preview"]);
  await pulumiOk(stack, ["config", "set", "services", String(services + ADDED)]);
  await step(`add ${ADDED}`, ["up", "--yes", "--skip-preview"]);
  await step("destroy", ["destroy", "--yes", "--skip-preview"]);
  const left = leftovers(kubeconfig);
  if (left.length > 0) throw new BenchStop(`${label}: destroy left ${left.join(", ")}`);
  return {
    services,
    mode,
    renderInProcess: rendered.inProcess,
    renderCli: rendered.cli,
    stateBytesPerService: stateBytes / services,
    steps,
  };
}

function report(all: readonly RunFigures[], header: string): string {
  const groups = new Map<string, RunFigures[]>();
  for (const r of all)
    groups.set(`${r.services} ${r.mode}`, [...(groups.get(`${r.services} ${r.mode}`) ?? []), r]);
  const rows: string[][] = [];
  for (const runs of groups.values()) {
    const { services, mode } = runs[0];
    const med = (f: (r: RunFigures) => number) => median(runs.map(f));
    rows.push([
      String(services),
      mode,
      "render",
      `${fixed(
        med((r) => r.renderInProcess),
        2,
      )} s / ${fixed(
        med((r) => r.renderCli),
        1,
      )} s`,
      "",
      "",
      "",
      "",
      fixed((med((r) => r.renderInProcess) / services) * 1000, 1),
    ]);
    for (const s of STEPS) {
      const seconds = med((r) => r.steps[s].seconds);
      const execs = [...new Set(runs.map((r) => r.steps[s].execs))].join(" / ");
      const entries = runs[0].steps[s].entries;
      rows.push([
        String(services),
        mode,
        s,
        `${fixed(seconds, 1)} s`,
        // destroy does not run the program: there is no language host process to measure.
        s === "destroy"
          ? "-"
          : fixed(
              med((r) => r.steps[s].languageHostMiB),
              0,
            ),
        fixed(
          med((r) => r.steps[s].providerMiB),
          0,
        ),
        execs,
        entries === undefined ? (s === "destroy" ? "0 objects left" : "-") : String(entries),
        fixed((seconds / services) * 1000, 0),
      ]);
    }
    rows.push([
      String(services),
      mode,
      "state file",
      `${fixed(med((r) => r.stateBytesPerService) / 1024, 1)} KiB/service`,
      "",
      "",
      "",
      "",
      "",
    ]);
  }
  return [
    header,
    "",
    table(
      [
        "services",
        "mode",
        "step",
        "wall time",
        "host MiB",
        "provider MiB",
        "kubectl exec",
        "entries on server",
        "ms/service",
      ],
      rows,
    ),
  ].join("\n");
}

async function main() {
  const { sizes, modes, runs } = parseArgs(process.argv.slice(2));
  const m = machine();
  console.log(describeMachine(m));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-bench-scale-"));
  const clusterDir = path.join(workDir, "cluster");
  const all: RunFigures[] = [];
  let stopped: string | undefined;
  try {
    const cluster = await clusterUp({ dir: clusterDir });
    for (const services of sizes)
      for (let run = 1; run <= runs; run++)
        for (const mode of modes) all.push(await measure(services, mode, run, workDir, cluster.kubeconfig));
  } catch (e) {
    stopped = (e as Error).message;
  } finally {
    for (const s of started) killRunning(s);
    await clusterDown({ dir: clusterDir, purge: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const header =
    `Machine: ${describeMachine(m)}; load average ${fixed(os.loadavg()[0], 2)} at the end. Date: ${new Date().toISOString().slice(0, 10)}.\n\n` +
    `bench/mesh-scale (seed 1, 4 namespaces, 1-3 backends per service) under the real engine on the loopback cluster, ${runs} run(s) per size and mode, each on a new stack; wall time of the whole CLI command; peak RSS (VmHWM) of the program's node process and of the Kubernetes provider; kubectl exec calls the entry commands made; entries counted on the SPIRE server after the step (equal to the stack's expectedEntries, or the bench stops). Render: in process / \`npm run render\` (process start and ts-node included).`;
  const body = report(all, header);
  console.log(`\n${body}`);
  fs.writeFileSync(path.join(os.tmpdir(), "bench-scale.md"), `${body}\n`);
  if (stopped) {
    console.error(`bench:scale stopped: ${stopped}`);
    process.exitCode = 1;
  }
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exitCode = 1;
});
