/**
 * Runs tools/validate/cmd/envoy-validate (Go: go-control-plane + strict protojson + PGV + Envoy's load-time
 * cross-reference checks) on Envoy v3 bootstraps. The binary is built by scripts/build-validators.sh;
 * a missing or stale binary is an error, never a reason to skip.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { goTool } from "./goTools";

export interface EnvoyValidateReport {
  readonly file: string;
  readonly errors: readonly string[];
}

export interface EnvoyValidateRun {
  /** 0 all valid, 1 some file has errors, 2 usage error (then `report` is empty). */
  readonly status: number;
  readonly report: readonly EnvoyValidateReport[];
  readonly stderr: string;
}

/** Throws unless .cache/bin/envoy-validate exists and is newer than every Go source it is built from. */
export function assertEnvoyValidateBuilt(): string {
  return goTool("envoy-validate");
}

/** Runs envoy-validate with the given arguments (argv, no shell). */
export function runEnvoyValidate(args: readonly string[]): EnvoyValidateRun {
  const run = spawnSync(assertEnvoyValidateBuilt(), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (run.error) throw new Error(`envoy-validate could not run: ${run.error.message}`);
  if (run.status === 2) return { status: 2, report: [], stderr: run.stderr };
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(
      `envoy-validate failed (status ${run.status}, signal ${run.signal}): ${run.stderr.trim()}`,
    );
  }
  const report = JSON.parse(run.stdout) as EnvoyValidateReport[];
  if (report.length !== args.length) {
    throw new Error(`envoy-validate reported ${report.length} files for ${args.length} given`);
  }
  return { status: run.status, report, stderr: run.stderr };
}

/**
 * Validates rendered bootstraps, keyed by a name used in messages (e.g. the workload). Throws one Error
 * listing every problem as `<name>: <field path>: <message>`.
 */
export function validateEnvoyBootstraps(bootstraps: Record<string, unknown>): void {
  const names = Object.keys(bootstraps);
  if (names.length === 0) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), "envoy-validate-"));
  try {
    // The index keeps file names unique even when two names sanitise to the same string.
    const files = names.map((name, index) => {
      const file = path.join(dir, `${index}-${name.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
      writeFileSync(file, JSON.stringify(bootstraps[name], null, 2));
      return file;
    });
    const run = runEnvoyValidate(files);
    if (run.status === 2) throw new Error(`envoy-validate usage error: ${run.stderr.trim()}`);
    const problems = run.report.flatMap((result, index) =>
      result.errors.map((error) => `${names[index]}: ${error}`),
    );
    if (problems.length > 0) {
      throw new Error(`${problems.length} Envoy bootstrap problem(s):\n  ${problems.join("\n  ")}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
