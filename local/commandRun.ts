/**
 * The stand-in's `command:local:run`: the invoke behind `local.run`/`local.runOutput` of pulumi-resource-command
 * 1.x, which runs a command on every preview and update (no state). As the real provider: the argv is
 * `interpreter` plus `command` as one last argument, the environment is the provider's own plus `environment`,
 * a non-zero exit fails the invoke with `exit status N: running "<command>":` and the combined output, and the
 * result is the arguments plus `stdout` and `stderr` (one trailing newline trimmed).
 *
 * Only what this project passes is modelled: `command`, `interpreter`, `environment`, and `logging: "none"` (the
 * stand-in never copies a command's output into the engine's log, which the real provider does unless told
 * "none"). Every other argument or value is refused with a failure naming it, as the resource's check does.
 */
import type * as provider from "@pulumi/pulumi/provider";
import { inputShapeProblem, reveal, runCommand } from "./commandProvider";

export const RUN_TOKEN = "command:local:run";

type Props = Record<string, unknown>;

const modelled = new Set(["command", "interpreter", "environment", "logging"]);

/** Why `args` cannot run here, one failure per argument; empty when they can. */
export function runFailures(args: Props): provider.CheckFailure[] {
  const failures: provider.CheckFailure[] = [];
  const fail = (property: string, reason: string) => failures.push({ property, reason });
  for (const [key, value] of Object.entries(args)) {
    if (!modelled.has(key)) {
      fail(key, `${key} is not implemented by the offline stand-in's ${RUN_TOKEN}`);
    } else if (inputShapeProblem(key, value)) {
      fail(key, inputShapeProblem(key, value) as string);
    }
  }
  if (!("command" in args)) fail("command", "command is required");
  if (args.logging !== "none") {
    fail(
      "logging",
      `logging = ${JSON.stringify(args.logging)}: the offline stand-in models only "none" (it never logs a command's output)`,
    );
  }
  return failures;
}

/** Runs the invoke; a refused argument answers with failures, a failed command rejects with its output. */
export async function invokeRun(token: string, inputs: Props): Promise<provider.InvokeResult> {
  if (token !== RUN_TOKEN)
    throw new Error(`unknown function ${token}: the offline stand-in implements ${RUN_TOKEN} only`);
  const args = reveal(inputs ?? {}) as Props;
  const failures = runFailures(args);
  if (failures.length > 0) return { failures };
  const { stdout, stderr } = await runCommand(args.command as string, args);
  return { outputs: { ...args, stdout, stderr } };
}
