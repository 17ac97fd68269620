/**
 * A stand-in for the `pulumi-resource-command` plugin, which cannot be built offline (its Go module is not
 * served). It implements `command:local:Command` for the inputs this project uses, with the semantics of the real
 * provider (pulumi/pulumi-command 1.x on pulumi-go-provider's `infer`):
 *
 * - diff: any input change is an in-place update; a change of `triggers` replaces (replaceOnChanges). Old and
 *   new inputs are compared as values; an unknown new value counts as a change.
 * - create runs `create`; update runs `update`, or `create` when there is no `update`; delete runs the old
 *   state's `delete` with the old state's environment. A missing command is a successful no-op.
 * - the argv is `interpreter` (default `/bin/sh -c`) plus the command as one last argument; the environment is
 *   the provider's own plus `environment`, plus PULUMI_COMMAND_STDOUT/STDERR from the previous create or update
 *   unless `addPreviousOutputInEnv` is false.
 * - `stdin`, when non-empty, is the process's standard input (create and update: the new inputs'; delete: the
 *   old state's); otherwise the process reads /dev/null. A process that exits without reading it all is not an
 *   error by itself (Go's exec ignores the broken pipe; the exit status decides).
 * - a non-zero exit fails the step with `exit status N: running "<command>":` and the combined output; a failed
 *   create leaves nothing in the state, a failed update keeps the old state, a failed delete keeps the resource.
 * - outputs are the inputs plus `stdout` and `stderr` (one trailing newline trimmed); when any input is secret,
 *   so are they. Read returns the state unchanged, so `pulumi refresh` never sees drift.
 * - preview runs nothing: the provider does not offer preview, so the engine never calls create or update then.
 *   The `command:local:run` invoke is another matter: the engine calls it at preview too (commandRun.ts).
 *
 * Inputs the project does not use (dir, logging, assetPaths, archivePaths) are refused at check, so a program
 * that needs them fails loudly here instead of silently behaving differently from the real plugin.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type * as provider from "@pulumi/pulumi/provider";

export const COMMAND_TYPE = "command:local:Command";
/** The plugin version @pulumi/command 1.2.1 asks the engine for. */
export const COMMAND_PLUGIN_VERSION = "1.2.1";

// Pulumi's wire encoding of secrets and unknown values in provider calls.
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const supportedInputs = [
  "create",
  "update",
  "delete",
  "environment",
  "interpreter",
  "triggers",
  "addPreviousOutputInEnv",
  "stdin",
] as const;
const unsupportedInputs = ["dir", "logging", "assetPaths", "archivePaths"];
const outputOnly = ["stdout", "stderr", "assets", "archive"];

type Props = Record<string, unknown>;

const isSecret = (v: unknown): v is { value: unknown } =>
  typeof v === "object" && v !== null && (v as Props)[SIG_KEY] === SECRET_SIG;

/** The value with every secret wrapper removed. */
export function reveal(v: unknown): unknown {
  if (isSecret(v)) return reveal(v.value);
  if (Array.isArray(v)) return v.map(reveal);
  if (typeof v === "object" && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
  }
  return v;
}

function containsSecret(v: unknown): boolean {
  if (isSecret(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (typeof v === "object" && v !== null) return Object.values(v).some(containsSecret);
  return false;
}

function containsUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(containsUnknown);
  if (typeof v === "object" && v !== null) return Object.values(v).some(containsUnknown);
  return false;
}

const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

/** Inputs as the user gave them: engine-internal keys (`__defaults`, ...) dropped. */
function inputsOf(props: Props): Props {
  return Object.fromEntries(
    Object.entries(props ?? {}).filter(([k]) => !k.startsWith("__") && !outputOnly.includes(k)),
  );
}

const STRING_INPUTS = ["command", "create", "update", "delete", "stdin"];

/**
 * What is wrong with the shape of a command input both the resource and the `local.run` invoke take (strings, the
 * interpreter's argv, the environment map); undefined when it is right or not one of those.
 */
export function inputShapeProblem(key: string, value: unknown): string | undefined {
  if (STRING_INPUTS.includes(key) && typeof value !== "string") return `${key} must be a string`;
  if (key === "interpreter" && !(Array.isArray(value) && value.every((a) => typeof a === "string"))) {
    return "interpreter must be a list of strings";
  }
  const isStringMap =
    typeof value === "object" && value !== null && Object.values(value).every((v) => typeof v === "string");
  if (key === "environment" && !isStringMap) return "environment must be a map of strings";
  return undefined;
}

export function check(news: Props): provider.CheckResult {
  const inputs = inputsOf(news);
  const failures: provider.CheckFailure[] = [];
  const fail = (property: string, reason: string) => failures.push({ property, reason });
  for (const [key, wrapped] of Object.entries(inputs)) {
    const value = reveal(wrapped);
    if (containsUnknown(value)) continue;
    if (unsupportedInputs.includes(key)) {
      fail(key, `${key} is not implemented by the offline stand-in for pulumi-resource-command`);
    } else if (!(supportedInputs as readonly string[]).includes(key)) {
      fail(key, `${key} is not an input of ${COMMAND_TYPE}`);
    } else if (inputShapeProblem(key, value)) {
      fail(key, inputShapeProblem(key, value) as string);
    } else if (key === "addPreviousOutputInEnv" && typeof value !== "boolean") {
      fail(key, "addPreviousOutputInEnv must be a boolean");
    } else if (key === "triggers" && !Array.isArray(value)) {
      fail(key, "triggers must be a list");
    }
  }
  return { inputs, failures };
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(reveal(a)) === JSON.stringify(reveal(b));

export function diff(olds: Props, news: Props): provider.DiffResult {
  const before = inputsOf(olds);
  const after = inputsOf(news);
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const changed = [...keys].filter((k) => containsUnknown(after[k]) || !sameValue(before[k], after[k]));
  return { changes: changed.length > 0, replaces: changed.filter((k) => k === "triggers") };
}

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one lifecycle command as the real provider does; rejects with its error text on a non-zero exit. */
export function runCommand(command: string, inputs: Props, previous?: RunResult): Promise<RunResult> {
  const plain = reveal(inputs) as Props;
  const interpreter = (plain.interpreter as string[] | undefined)?.length
    ? (plain.interpreter as string[])
    : ["/bin/sh", "-c"];
  const env: NodeJS.ProcessEnv = { ...process.env, ...((plain.environment as Record<string, string>) ?? {}) };
  if (plain.addPreviousOutputInEnv !== false && previous) {
    if (previous.stdout) env.PULUMI_COMMAND_STDOUT = previous.stdout;
    if (previous.stderr) env.PULUMI_COMMAND_STDERR = previous.stderr;
  }
  const [file, ...args] = [...interpreter, command];
  const stdin = typeof plain.stdin === "string" && plain.stdin.length > 0 ? plain.stdin : undefined;
  return new Promise((resolve, reject) => {
    const child =
      stdin === undefined
        ? spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] })
        : spawn(file, args, { env, stdio: ["pipe", "pipe", "pipe"] });
    if (stdin !== undefined && child.stdin) {
      // As Go's exec: a broken pipe on stdin is not the step's failure; the exit status is.
      child.stdin.on("error", () => {});
      child.stdin.end(stdin);
    }
    let stdout = "";
    let stderr = "";
    let combined = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      combined += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      combined += d;
    });
    child.on("error", (e) => reject(new Error(`${e.message}: running ${JSON.stringify(command)}:\n`)));
    child.on("close", (code, signal) => {
      if (code === 0) {
        resolve({ stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") });
        return;
      }
      const status = signal ? `signal: ${signal}` : `exit status ${code}`;
      reject(new Error(`${status}: running ${JSON.stringify(command)}:\n${combined}`));
    });
  });
}

/** Outputs: the inputs plus stdout and stderr, secret when any input is. */
function outputs(inputs: Props, result: RunResult): Props {
  const wrap = containsSecret(inputs) ? secret : (v: unknown) => v;
  return { ...inputs, stdout: wrap(result.stdout), stderr: wrap(result.stderr) };
}

const previousOutput = (state: Props): RunResult => ({
  stdout: String(reveal(state.stdout) ?? ""),
  stderr: String(reveal(state.stderr) ?? ""),
});

/** `<name><8 hex>`, as the real provider's resource.NewUniqueHex(name, 8, 0). */
const uniqueId = (urn: string) => `${urn.split("::").pop()}${randomBytes(4).toString("hex")}`;

export const commandProvider: provider.Provider = {
  version: COMMAND_PLUGIN_VERSION,
  async check(_urn, _olds, news) {
    return check(news);
  },
  async diff(_id, _urn, olds, news) {
    return diff(olds, news);
  },
  async create(urn, inputs) {
    const props = inputsOf(inputs);
    const create = reveal(props.create);
    const result = typeof create === "string" ? await runCommand(create, props) : { stdout: "", stderr: "" };
    return { id: uniqueId(urn), outs: outputs(props, result) };
  },
  async update(_id, _urn, olds, news) {
    const props = inputsOf(news);
    const command = reveal(props.update ?? props.create);
    const previous = previousOutput(olds);
    const result = typeof command === "string" ? await runCommand(command, props, previous) : previous;
    return { outs: outputs(props, result) };
  },
  async delete(_id, _urn, state) {
    const command = reveal(state.delete);
    if (typeof command === "string") await runCommand(command, inputsOf(state), previousOutput(state));
  },
  async read(id, _urn, props) {
    return { id, props, inputs: inputsOf(props ?? {}) };
  },
};
