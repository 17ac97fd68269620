/**
 * Shared by the benchmark scripts: what machine the figures come from, the median, and writing one `## <title>`
 * section of bench/RESULTS.md without disturbing the sections other benchmarks own.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export const RESULTS_FILE = path.join(__dirname, "RESULTS.md");

export interface Machine {
  readonly cores: number;
  readonly model: string;
  readonly node: string;
  readonly platform: string;
  readonly memoryGiB: number;
  /** 1-minute load average when the benchmark started: other work on a 2-core box skews every figure. */
  readonly loadAverage: number;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    model: cpus[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg()[0],
  };
}

/** One line for the console and for RESULTS.md: figures mean little without the core count. */
export function describeMachine(m: Machine = machine()): string {
  return (
    `${m.cores} cores (${m.model}), ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.platform}; ` +
    `load average ${m.loadAverage.toFixed(2)} at start`
  );
}

/** Median; the mean of the middle two for an even count. Medians resist one slow run (GC, a noisy neighbour). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Seconds since `start` (a `process.hrtime.bigint()` reading). */
export const secondsSince = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

export const fixed = (n: number, digits = 2): string => n.toFixed(digits);

const HEADER =
  "# Benchmark results\n\nWritten by the scripts in bench/ (see bench/README.md); each owns one section.\n";

/**
 * Replaces the `## <title>` section (up to the next `## ` heading) with `body`, or appends it. Re-read right
 * before writing so a section another benchmark wrote meanwhile is kept.
 */
export function writeSection(title: string, body: string, file = RESULTS_FILE): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : HEADER;
  const section = `## ${title}\n\n${body.trim()}\n`;
  const lines = current.split("\n");
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  let next: string;
  if (start < 0) {
    next = `${current.trimEnd()}\n\n${section}`;
  } else {
    let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
    if (end < 0) end = lines.length;
    const before = lines.slice(0, start).join("\n").trimEnd();
    const after = lines.slice(end).join("\n").trim();
    next = `${before}\n\n${section}${after ? `\n${after}\n` : ""}`;
  }
  fs.writeFileSync(file, next);
}

/**
 * A Markdown table from a header row and data rows, columns padded as biome formats Markdown, so `npm run lint`
 * stays clean after a benchmark rewrites RESULTS.md.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${widths.map((w, i) => (cells[i] ?? "").padEnd(w)).join(" | ")} |`;
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
