/**
 * npm run bench:exec — how many `kubectl exec` round trips a `pulumi up` makes for a 50-service stack
 * (bench/mesh-scale: an entry per workload and gateway, and the agents' alias), per entry registration mode: `perEntry` (a
 * SpireEntry, one command, per entry) and `batch` (one SpireEntrySet). Real engine on the loopback cluster; a
 * `kubectl` first on the engine's PATH logs each call, then runs the real one. Counted for the first up, an up
 * that adds 5 services, and destroy; with wall times, median of several runs, each on a new stack.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { clusterDown, clusterUp, REPO_ROOT } from "../local/cluster/cluster";
import { initStack, pulumiOk } from "../local/pulumiCli";
import { countingKubectl, execCalls } from "./kubectlShim";
import { describeMachine, fixed, machine, median, secondsSince, table, writeSection } from "./machine";

const RUNS = 3;
const SERVICES = 50;
const ADDED = 5;
const MODES = ["perEntry", "batch"] as const;
const STEPS = ["up", `up adding ${ADDED}`, "destroy"] as const;
type Step = (typeof STEPS)[number];

async function measure(mode: (typeof MODES)[number], run: number, workDir: string, kubeconfig: string) {
  const dir = path.join(workDir, `${mode}-${run}`);
  const log = path.join(dir, "kubectl.log");
  countingKubectl(path.join(dir, "shim"), log);
  const stack = initStack({
    projectDir: path.join(REPO_ROOT, "bench", "mesh-scale"),
    stack: "bench",
    workDir: dir,
    kubeconfig,
  });
  stack.env.PATH = `${path.join(dir, "shim")}:${stack.env.PATH}`;
  await pulumiOk(stack, ["config", "set", "services", String(SERVICES)]);
  await pulumiOk(stack, ["config", "set", "entryRegistration", mode]);
  const result = {} as Record<Step, { calls: number; seconds: number }>;
  const step = async (name: Step, args: string[]) => {
    fs.rmSync(log, { force: true });
    const start = process.hrtime.bigint();
    await pulumiOk(stack, args, { timeoutMs: 900_000 });
    result[name] = { calls: execCalls(log), seconds: secondsSince(start) };
  };
  await step("up", ["up", "--yes", "--skip-preview"]);
  await pulumiOk(stack, ["config", "set", "services", String(SERVICES + ADDED)]);
  await step(`up adding ${ADDED}`, ["up", "--yes", "--skip-preview"]);
  await step("destroy", ["destroy", "--yes", "--skip-preview"]);
  return result;
}

async function main() {
  const m = machine();
  console.log(describeMachine(m));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-bench-exec-"));
  const clusterDir = path.join(workDir, "cluster");
  const rows: string[][] = [];
  try {
    const cluster = await clusterUp({ dir: clusterDir });
    const runs = Object.fromEntries(MODES.map((mode) => [mode, [] as Awaited<ReturnType<typeof measure>>[]]));
    // Interleaved, so drift on the machine hits both modes alike.
    for (let run = 0; run < RUNS; run++) {
      for (const mode of MODES) {
        const r = await measure(mode, run, workDir, cluster.kubeconfig);
        console.log(
          `${mode} #${run + 1}: ${STEPS.map((s) => `${s} ${r[s].calls} execs ${fixed(r[s].seconds, 1)}s`).join(", ")}`,
        );
        runs[mode].push(r);
      }
    }
    for (const mode of MODES) {
      for (const s of STEPS) {
        const calls = [...new Set(runs[mode].map((r) => r[s].calls))];
        rows.push([mode, s, calls.join(" / "), `${fixed(median(runs[mode].map((r) => r[s].seconds)), 1)} s`]);
      }
    }
  } finally {
    await clusterDown({ dir: clusterDir, purge: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const body = [
    `Machine: ${describeMachine(m)}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    "",
    `bench/mesh-scale with ${SERVICES} services (an entry per workload and gateway, and the agents' alias), real Pulumi engine on the loopback cluster; every \`kubectl exec\` the engine's commands make is logged by a kubectl shim first on its PATH. ${RUNS} runs per mode, each on a new stack; calls are the same in every run unless several values are shown; times are medians of the whole CLI command.`,
    "",
    table(["entryRegistration", "step", "kubectl exec calls", "wall time"], rows),
  ].join("\n");
  writeSection("kubectl exec calls per pulumi up, by entry registration mode", body);
  console.log(body);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
