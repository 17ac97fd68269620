/**
 * npm run bench:render — how render time grows with the mesh: bench/mesh-scale (SPIRE, a node alias, N
 * MeshWorkloads on a seeded graph and a gateway per namespace, each with its SpireEntry) evaluated through renderProgram, the same mock
 * runtime `npm run render` uses, for N = 4, 50 and 200. Renders run in this one process, one after another:
 * Pulumi's mock runtime is process-wide. One untimed warm-up render (N = 50) first, so module loading and JIT
 * do not land on the first timed size.
 */
import * as path from "node:path";
import { type RenderResult, renderProgram } from "../render/runtime";
import { describeMachine, fixed, machine, median, secondsSince, table, writeSection } from "./machine";

const PROJECT = path.join(__dirname, "mesh-scale");
const STACK = "bench";
const WARM_UP = 50;
/** Service counts and how many timed renders each gets (the big one is slower, so fewer). */
const SIZES: readonly { services: number; runs: number }[] = [
  { services: 4, runs: 5 },
  { services: 50, runs: 5 },
  { services: 200, runs: 3 },
];

interface Measured {
  readonly services: number;
  readonly times: number[];
  readonly resources: number;
  readonly custom: number;
}

/** One render, checked: the program saw the requested size and warned about nothing (all identities registered). */
async function render(services: number): Promise<{ seconds: number; result: RenderResult }> {
  const start = process.hrtime.bigint();
  const result = await renderProgram({
    stack: STACK,
    projectDir: PROJECT,
    overrides: { services: String(services) },
  });
  const seconds = secondsSince(start);
  if (result.outputs.serviceCount !== services)
    throw new Error(`render for ${services} services reported ${String(result.outputs.serviceCount)}`);
  if (result.warnings.length > 0) throw new Error(`unexpected warnings: ${result.warnings.join("; ")}`);
  return { seconds, result };
}

async function measure(services: number, runs: number, label = ""): Promise<Measured> {
  const times: number[] = [];
  let resources = 0;
  let custom = 0;
  for (let run = 1; run <= runs; run++) {
    const { seconds, result } = await render(services);
    times.push(seconds);
    resources = result.resources.length;
    custom = result.resources.filter((r) => r.custom).length;
    console.log(`N=${services}${label} run ${run}: ${fixed(seconds, 3)} s, ${resources} resources`);
  }
  return { services, times, resources, custom };
}

function report(m: ReturnType<typeof machine>, measured: readonly Measured[]): string {
  const med = (x: Measured) => median(x.times);
  const rows = measured.map((x) => [
    String(x.services),
    String(x.times.length),
    x.times.map((t) => fixed(t, 3)).join(", "),
    fixed(med(x), 3),
    `${x.resources} (${x.custom} custom)`,
    fixed((med(x) / x.services) * 1000, 1),
    fixed((med(x) / x.resources) * 1000, 2),
  ]);
  const growth = measured.slice(1).map((x, i) => {
    const prev = measured[i];
    return (
      `${x.services} vs ${prev.services} services (${fixed(x.services / prev.services, 1)}× the services, ` +
      `${fixed(x.resources / prev.resources, 1)}× the resources): time ${fixed(med(x) / med(prev), 1)}×; ` +
      `${fixed(((med(x) - med(prev)) / (x.services - prev.services)) * 1000, 1)} ms per added service`
    );
  });
  return [
    `Machine: ${describeMachine(m)}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    "bench/mesh-scale rendered with `renderProgram` (Pulumi mock runtime, in-process, sequential) at " +
      "`--config services=N` (perEntry registration): SpireInstallation + node-alias SpireEntry + N MeshWorkloads " +
      "in 4 namespaces wired by the seeded graph (seed 1, 1-3 backends each, http/grpc/tcp) + one " +
      "MtlsVirtualGateway per namespace in front of about a tenth of them, each member with its SpireEntry. " +
      `One untimed warm-up render at N=${WARM_UP} first; then the median of the runs shown.`,
    "",
    table(["services", "N runs", "runs (s)", "median (s)", "resources", "ms/service", "ms/resource"], rows),
    "",
    ...growth.map((g) => `- Growth ${g}.`),
  ].join("\n");
}

/**
 * Diagnostic, not part of the growth figures: the Pulumi SDK formats `new Error().stack` for every resource
 * (Resource.callsites) and every promise it tracks (runtime/debuggable.js), and under ts-node (which `pulumi up`
 * also uses for TypeScript programs) each frame goes through source-map-support. The render remembers each
 * frame's mapped text (render/stackTraces.ts); rendering once more with V8's plain formatter shows what is left.
 */
async function withoutSourceMappedStacks(services: number, runs: number): Promise<Measured> {
  const mapped = Error.prepareStackTrace;
  // What V8 prints by default: each call site as is, with no source-map lookup.
  Error.prepareStackTrace = (err, frames) => `${err}\n${frames.map((f) => `    at ${f}`).join("\n")}`;
  try {
    return await measure(services, runs, " (plain stacks)");
  } finally {
    Error.prepareStackTrace = mapped;
  }
}

function diagnostic(mapped: Measured, plain: Measured): string {
  const share = 1 - median(plain.times) / median(mapped.times);
  return (
    `- Diagnostic: N=${plain.services} again with V8's plain stack formatter instead of ts-node's ` +
    `source-map-support (${plain.times.length} runs: ${plain.times.map((t) => fixed(t, 3)).join(", ")} s), ` +
    `median ${fixed(median(plain.times), 3)} s: ${fixed(share * 100, 0)}% of the render above is source-mapping ` +
    "the stack traces the Pulumi SDK captures for every resource and tracked promise, each frame mapped once " +
    "(render/stackTraces.ts)."
  );
}

async function main(): Promise<void> {
  const m = machine();
  console.log(`machine: ${describeMachine(m)}`);
  const warm = await render(WARM_UP);
  console.log(`warm-up N=${WARM_UP}: ${fixed(warm.seconds, 3)} s (not counted)`);
  const measured: Measured[] = [];
  for (const { services, runs } of SIZES) measured.push(await measure(services, runs));
  const largest = SIZES[SIZES.length - 1];
  const plain = await withoutSourceMappedStacks(largest.services, largest.runs);
  const body = `${report(m, measured)}\n${diagnostic(measured[measured.length - 1], plain)}`;
  writeSection("Render time vs mesh size", body);
  console.log(`\n${body}`);
}

main().catch((e: Error) => {
  console.error(e.stack ?? e.message);
  process.exitCode = 1;
});
