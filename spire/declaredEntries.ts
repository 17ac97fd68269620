/**
 * The registration entries a stack declares, by server, read from its state (`pulumi stack export
 * --show-secrets`), for the drift check (spire/drift.ts, bin/spire-drift.js). The state, not the outputs: the
 * entry commands' inputs hold the exact plans the last `pulumi up` ran (every field, the exec prefix, the entry IDs
 * and the commands' environment), where the outputs hold only SPIFFE IDs. Pure.
 */
import { entryCommands, entryIdPrefix } from "./entries";
import { declaredEntry, type Entry } from "./entryDiff";
import { entrySetCommands, planStep } from "./entrySet";
import type { Runner } from "./runners";

// biome-ignore lint/suspicious/noExplicitAny: exported state is read field by field and checked where used.
type Json = any;

export type EntryKind = "SpireEntry" | "SpireEntrySet";

/** The runner each kind's command starts (spire/runners.ts). */
const RUNNER_OF: Readonly<Record<EntryKind, Runner>> = {
  SpireEntry: "spire-entry.js",
  SpireEntrySet: "spire-entry-set.js",
};

/**
 * The variables by which bin/lib/serverCli.js reaches a cluster. Two commands with the same exec prefix but other
 * values of these talk to different servers.
 */
export const ACCESS_VARIABLES = ["KUBECONFIG", "SPIRE_MESH_KUBECONFIG", "SPIRE_MESH_KUBE_CONTEXT"] as const;

/** One runner process as the command provider starts it: its argument, stdin and environment (added to ours). */
export interface RunnerCall {
  readonly runner: Runner;
  readonly argument: string;
  readonly stdin?: string;
  readonly environment: Readonly<Record<string, string>>;
}

/** How the entry commands reach one server: the CLI's argv prefix, its admin socket, the cluster access. */
export interface ServerAddress {
  readonly prefix: readonly string[];
  readonly socketPath?: string;
  readonly access: Readonly<Record<string, string>>;
}

/** One entry command of the stack: what it declares, and the update step `pulumi up` runs for it. */
export interface DeclaredResource {
  readonly kind: EntryKind;
  /** The component's type and name ("SpireEntry front"), as the report names it. */
  readonly label: string;
  readonly server: ServerAddress;
  readonly entries: readonly Entry[];
  readonly update: RunnerCall;
}

/** The stack's entries on one server. */
export interface ServerView {
  readonly server: ServerAddress;
  /** `entry show` of every entry on the server. */
  readonly show: readonly string[];
  readonly resources: readonly DeclaredResource[];
}

export interface StackView {
  readonly project: string;
  readonly stack: string;
  /** Every entry ID of the stack starts with it (spire/entries.ts, entryIdPrefix). */
  readonly prefix: string;
  readonly servers: readonly ServerView[];
}

/** What the engine writes in place of a secret value; with --show-secrets the value is in `plaintext`, as JSON. */
const SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d";

function revealed(value: Json, what: string): Json {
  if (value === null || typeof value !== "object" || !(SECRET_SIGNATURE in value)) return value;
  if (typeof value.plaintext !== "string") {
    throw new Error(`${what} is encrypted in the exported state: export it with --show-secrets`);
  }
  return JSON.parse(value.plaintext);
}

function parsedJson(text: Json, what: string): Json {
  if (typeof text !== "string") throw new Error(`${what} is not a string (${typeof text})`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${(e as Error).message}`);
  }
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The prefix and socket in a `show` argv ([...prefix, "entry", "show", ("-socketPath", s)?, ...flags]), checked by
 * building the plan's commands again from them with the same builder the stack used.
 */
function addressIn(show: Json, flags: readonly string[], what: string) {
  const shape = `[...prefix, "entry", "show", ("-socketPath", path)?, ${flags.map((f) => JSON.stringify(f)).join(", ")}]`;
  if (!Array.isArray(show) || !show.every((a) => typeof a === "string"))
    throw new Error(`${what}: its show command is not an argv list`);
  if (!sameJson(show.slice(show.length - flags.length), flags))
    throw new Error(`${what}: its show command ${JSON.stringify(show)} does not end as ${shape}`);
  let rest: string[] = show.slice(0, show.length - flags.length);
  let socketPath: string | undefined;
  if (rest[rest.length - 2] === "-socketPath") {
    socketPath = rest[rest.length - 1];
    rest = rest.slice(0, -2);
  }
  if (!sameJson(rest.slice(-2), ["entry", "show"]) || rest.length < 3)
    throw new Error(`${what}: its show command ${JSON.stringify(show)} is not ${shape}`);
  return { prefix: rest.slice(0, -2), socketPath };
}

const outOfDate = (what: string, part: string) =>
  new Error(
    `${what}: its ${part} is not what this version of spire-mesh builds from the same entry and server; ` +
      "run pulumi up with this version first, so that the state holds plans it can compare",
  );

/** The environment an entry command runs with, revealed, and the cluster access in it. */
function environmentOf(inputs: Json, what: string) {
  const env = revealed(inputs.environment ?? {}, `${what}'s environment`);
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(env ?? {})) environment[k] = String(revealed(v, `${what}'s ${k}`));
  const access: Record<string, string> = {};
  for (const k of ACCESS_VARIABLES) if (environment[k] !== undefined) access[k] = environment[k];
  return { environment, access };
}

function entryResource(r: Json, label: string): DeclaredResource {
  const inputs = r.inputs ?? {};
  const argument = revealed(inputs.update, `${label}'s update`);
  const plan = parsedJson(argument, `${label}'s update plan`);
  if (plan?.step !== "update" || typeof plan.expect !== "object" || plan.expect === null)
    throw new Error(`${label}: its update is not an update plan with the declared entry`);
  const address = addressIn(plan.show, ["-entryID", plan.entryId, "-output", "json"], label);
  const rebuilt = entryCommands(address.prefix, plan.expect, address.socketPath);
  if (!sameJson([plan.create, plan.update, plan.show], [rebuilt.create, rebuilt.update, rebuilt.show]))
    throw outOfDate(label, "update plan");
  const { environment, access } = environmentOf(inputs, label);
  return {
    kind: "SpireEntry",
    label,
    server: { ...address, access },
    entries: [declaredEntry(plan.expect)],
    update: { runner: RUNNER_OF.SpireEntry, argument, environment },
  };
}

function entrySetResource(r: Json, label: string): DeclaredResource {
  const inputs = r.inputs ?? {};
  const stdin = revealed(inputs.stdin, `${label}'s stdin`);
  const update = revealed(inputs.update, `${label}'s update`);
  if (typeof stdin !== "string" || update !== planStep(stdin, "update"))
    throw outOfDate(label, "update step (its plan on stdin, its hash in the argument)");
  const plan = parsedJson(stdin, `${label}'s plan`);
  if (!Array.isArray(plan.expect) || plan.expect.length === 0)
    throw new Error(`${label}: its plan declares no entries`);
  const address = addressIn(plan.commands?.show, ["-output", "json"], label);
  if (!sameJson(plan.commands, entrySetCommands(address.prefix, address.socketPath)))
    throw outOfDate(label, "plan's commands");
  const { environment, access } = environmentOf(inputs, label);
  // What the provider hands an update (addPreviousOutputInEnv): the IDs the last run registered.
  const previous = revealed(r.outputs?.stdout, `${label}'s stdout`);
  return {
    kind: "SpireEntrySet",
    label,
    server: { ...address, access },
    entries: plan.expect.map(declaredEntry),
    update: {
      runner: RUNNER_OF.SpireEntrySet,
      argument: update,
      stdin,
      environment: {
        ...environment,
        ...(typeof previous === "string" ? { PULUMI_COMMAND_STDOUT: previous } : {}),
      },
    },
  };
}

/** `urn:pulumi:<stack>::<project>::<parent types $ type>::<name>` */
function urnParts(urn: Json) {
  const parts = String(urn).split("::");
  if (parts.length < 4 || !parts[0].startsWith("urn:pulumi:")) throw new Error(`not a URN: ${String(urn)}`);
  return {
    stack: parts[0].slice("urn:pulumi:".length),
    project: parts[1],
    types: parts[2].split("$"),
    name: parts.slice(3).join("::"),
  };
}

/**
 * The stack's declared entries, by server, from `pulumi stack export --show-secrets` (parsed). The commands of
 * SpireEntry and SpireEntrySet are found by their parent's type; each plan is checked against the builders that
 * made it, so a state this version cannot read is refused rather than compared wrongly.
 */
export function stackView(exported: Json): StackView {
  const deployment = exported?.deployment;
  const resources: Json[] = deployment?.resources ?? [];
  const stackResource = resources.find((r) => r.type === "pulumi:pulumi:Stack");
  if (!stackResource)
    throw new Error("the exported state holds no stack resource: has the stack been deployed?");
  const { stack, project } = urnParts(stackResource.urn);
  const pending = (deployment.pending_operations ?? []).map((p: Json) => `${p.type} ${p.resource?.urn}`);
  if (pending.length > 0) {
    throw new Error(
      `the state of ${project}/${stack} holds operations an interrupted update left pending (${pending.join(", ")}): ` +
        "recover it first (pulumi cancel; pulumi refresh --clear-pending-creates; pulumi up)",
    );
  }
  const servers = new Map<string, { server: ServerAddress; resources: DeclaredResource[] }>();
  for (const r of resources) {
    const { types, name } = urnParts(r.urn);
    const kind = (types[types.length - 2] ?? "").split(":").pop();
    if (
      types[types.length - 1] !== "command:local:Command" ||
      (kind !== "SpireEntry" && kind !== "SpireEntrySet")
    )
      continue;
    const label = `${kind} ${r.parent ? urnParts(r.parent).name : name}`;
    const interpreter = r.inputs?.interpreter;
    if (!Array.isArray(interpreter) || interpreter[interpreter.length - 1] !== RUNNER_OF[kind])
      throw new Error(
        `${label}: its command does not start ${RUNNER_OF[kind]} (${JSON.stringify(interpreter)})`,
      );
    const declared = kind === "SpireEntry" ? entryResource(r, label) : entrySetResource(r, label);
    const key = JSON.stringify([
      declared.server.prefix,
      declared.server.socketPath ?? null,
      declared.server.access,
    ]);
    const group = servers.get(key) ?? { server: declared.server, resources: [] };
    group.resources.push(declared);
    servers.set(key, group);
  }
  return {
    project,
    stack,
    prefix: entryIdPrefix(project, stack),
    servers: [...servers.values()].map((g) => ({
      ...g,
      show: entrySetCommands(g.server.prefix, g.server.socketPath).show,
    })),
  };
}
