/**
 * npm run bench:engine — wall time of the real engine's operations on a loopback cluster: `pulumi preview` of a
 * new stack, `pulumi up`, a no-change `pulumi preview --expect-no-changes`, and `pulumi destroy`, for the dev
 * stack (the walkthrough, 46 resources) and bench/mesh-scale with 50 services (SPIRE plus 50 SpireEntry
 * commands and 50 MtlsVirtualNodes). Pulumi CLI 3.276.0, its Node.js language host, the Kubernetes provider and
 * the stand-in command plugin; entries run through kubectl exec into the host-backed SPIRE server. One cluster
 * serves every run; each repetition uses a new stack, and each step is checked (exit 0, resource counts).
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { clusterDown, clusterUp, REPO_ROOT } from "../local/cluster/cluster";
import { initStack, pulumiOk } from "../local/pulumiCli";
import { describeMachine, fixed, machine, median, secondsSince, table, writeSection } from "./machine";

const RUNS = 3;
const STEPS = ["preview", "up", "no-change preview", "destroy"] as const;
type Step = (typeof STEPS)[number];

interface Subject {
  readonly label: string;
  readonly projectDir: string;
  readonly stack: string;
  readonly config: Readonly<Record<string, string>>;
}

const SUBJECTS: readonly Subject[] = [
  { label: "dev stack (walkthrough)", projectDir: REPO_ROOT, stack: "dev", config: {} },
  {
    label: "mesh-scale, 50 services",
    projectDir: path.join(REPO_ROOT, "bench", "mesh-scale"),
    stack: "bench",
    config: { services: "50" },
  },
];

async function measure(subject: Subject, run: number, workDir: string, kubeconfig: string) {
  const stack = initStack({
    projectDir: subject.projectDir,
    stack: subject.stack,
    workDir: path.join(workDir, `${subject.stack}-${run}`),
    kubeconfig,
  });
  for (const [key, value] of Object.entries(subject.config))
    await pulumiOk(stack, ["config", "set", key, value]);
  const times = {} as Record<Step, number>;
  const timed = async (step: Step, args: string[]) => {
    const start = process.hrtime.bigint();
    const r = await pulumiOk(stack, args, { timeoutMs: 900_000 });
    times[step] = secondsSince(start);
    return r;
  };
  const preview = JSON.parse((await timed("preview", ["preview", "--json"])).stdout);
  const up = await timed("up", ["up", "--yes", "--skip-preview"]);
  const created = /\+ (\d+) created/.exec(up.stdout)?.[1];
  if (Number(created) !== preview.changeSummary.create) {
    throw new Error(
      `${subject.label}: preview planned ${preview.changeSummary.create} creates, up made ${created}`,
    );
  }
  await timed("no-change preview", ["preview", "--expect-no-changes"]);
  await timed("destroy", ["destroy", "--yes", "--skip-preview"]);
  return { times, resources: preview.changeSummary.create as number };
}

async function main() {
  const m = machine();
  console.log(describeMachine(m));
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-bench-engine-"));
  const clusterDir = path.join(workDir, "cluster");
  const rows: string[][] = [];
  try {
    const cluster = await clusterUp({ dir: clusterDir });
    for (const subject of SUBJECTS) {
      const runs: Awaited<ReturnType<typeof measure>>[] = [];
      for (let run = 0; run < RUNS; run++) {
        const r = await measure(subject, run, workDir, cluster.kubeconfig);
        console.log(
          `${subject.label} #${run + 1}: ${STEPS.map((s) => `${s} ${fixed(r.times[s], 1)}s`).join(", ")}`,
        );
        runs.push(r);
      }
      rows.push([
        subject.label,
        String(runs[0].resources),
        ...STEPS.map((s) => `${fixed(median(runs.map((r) => r.times[s])), 1)} s`),
      ]);
    }
  } finally {
    await clusterDown({ dir: clusterDir, purge: true });
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  const body = [
    `Machine: ${describeMachine(m)}.`,
    "",
    `Real Pulumi CLI 3.276.0 with its Node.js language host, the Kubernetes provider and the stand-in command plugin, against the loopback cluster (one kwok node); entries go through kubectl exec into the real SPIRE server behind the spire-server pod. Median of ${RUNS} runs, each on a new stack; wall time of the whole CLI command.`,
    "",
    table(["stack", "resources", ...STEPS], rows),
  ].join("\n");
  writeSection("Real engine: preview, up, no-change preview, destroy", body);
  console.log(body);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
