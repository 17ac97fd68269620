/**
 * Drift between the registration entries a stack declares and what its SPIRE servers hold, and the runner calls
 * that put the stack's view back. Pure: bin/spire-drift.js exports the state, runs `entry show` and the runners.
 *
 * The declared view comes from the stack's state (`pulumi stack export --show-secrets`), not its outputs: the
 * entry commands' inputs hold the exact plans the last `pulumi up` ran (every field, the exec prefix, the entry
 * IDs and the commands' environment), where the outputs hold only SPIFFE IDs.
 */

import { entryCommands, entryIdPrefix } from "./entries";
import { declaredEntry, diffEntries, type Entry, type EntryField } from "./entryDiff";
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

/** A declared entry and the resource that declares it. */
export interface Declared {
  readonly entry: Entry;
  readonly label: string;
}

/** What one server holds of the stack's entries, against what the stack declares there. */
export interface Drift {
  /** Declared, not on the server under their ID. */
  readonly missing: readonly Declared[];
  /** On the server with other values; `fields` by SPIRE's names, in ENTRY_FIELDS order. */
  readonly changed: readonly (Declared & {
    readonly current: Entry;
    readonly fields: readonly EntryField[];
  })[];
  /** On the server under the stack's prefix, declared by no resource of the stack. */
  readonly unexpected: readonly Entry[];
  /** Declared entries the server holds as declared. */
  readonly asDeclared: number;
}

/**
 * Classifies the server's entries (`shown`) against the declared ones, by entry ID, with spire/entryDiff.ts:
 * what a `pulumi up` would create is missing, what it would update is changed, and an entry under `prefix` that
 * nothing declares is unexpected. Entries outside the prefix (other stacks', the server's own) are not looked at.
 */
export function classifyDrift(shown: readonly Entry[], declared: readonly Declared[], prefix: string): Drift {
  const ours = shown.filter((e) => e.entryId.startsWith(prefix));
  const diff = diffEntries(
    ours,
    declared.map((d) => d.entry),
    ours.map((e) => e.entryId),
  );
  const labelOf = new Map(declared.map((d) => [d.entry.entryId, d.label]));
  const onServer = new Map(ours.map((e) => [e.entryId, e]));
  return {
    missing: diff.create.map((entry) => ({ entry, label: labelOf.get(entry.entryId) ?? "" })),
    changed: diff.update.map(({ entry, fields }) => ({
      entry,
      label: labelOf.get(entry.entryId) ?? "",
      current: onServer.get(entry.entryId) as Entry,
      fields,
    })),
    unexpected: diff.remove,
    asDeclared: diff.unchanged.length,
  };
}

export const hasDrift = (d: Drift) => d.missing.length + d.changed.length + d.unexpected.length > 0;

const list = (xs: readonly string[]) => `[${xs.join(", ")}]`;
const seconds = (n: number) => (n === 0 ? "0 (server default)" : `${n}s`);

/** Each field's value as the report shows it; sets (selectors, trust domains) sorted, as they are compared. */
const FIELD_TEXT: { readonly [F in EntryField]: (e: Entry) => string } = {
  spiffe_id: (e) => e.spiffeId,
  parent_id: (e) => e.parentId,
  selectors: (e) => list(e.selectors.map((s) => `${s.type}:${s.value}`).sort()),
  x509_svid_ttl: (e) => seconds(e.x509SvidTtl),
  dns_names: (e) => list(e.dnsNames),
  federates_with: (e) => list([...e.federatesWith].sort()),
  admin: (e) => String(e.admin),
  downstream: (e) => String(e.downstream),
  store_svid: (e) => String(e.storeSvid),
  expires_at: (e) =>
    e.expiresAt === 0 ? "0 (never)" : `${e.expiresAt} (${new Date(e.expiresAt * 1000).toISOString()})`,
  jwt_svid_ttl: (e) => seconds(e.jwtSvidTtl),
  hint: (e) => JSON.stringify(e.hint),
};

/** One server's name in the report: the argv that reaches it (never the environment, which may hold a kubeconfig). */
export const serverName = (s: ServerAddress) =>
  [...s.prefix, ...(s.socketPath ? [`(socket ${s.socketPath})`] : [])].join(" ");

/**
 * The report: per server, each missing, changed (every differing field, as the server holds it → as the stack
 * declares it) and unexpected entry, then one line of counts for the stack. `drifts` is index for index with
 * `view.servers`.
 */
export function formatDrift(view: StackView, drifts: readonly Drift[]): string[] {
  const lines: string[] = [];
  const name = `${view.project}/${view.stack}`;
  const declared = view.servers.reduce(
    (n, s) => n + s.resources.reduce((m, r) => m + r.entries.length, 0),
    0,
  );
  const total = { missing: 0, changed: 0, unexpected: 0, asDeclared: 0 };
  view.servers.forEach((server, i) => {
    const d = drifts[i];
    total.missing += d.missing.length;
    total.changed += d.changed.length;
    total.unexpected += d.unexpected.length;
    total.asDeclared += d.asDeclared;
    if (!hasDrift(d)) return;
    lines.push(`${name}: entries under ${view.prefix} on ${serverName(server.server)}`);
    for (const m of d.missing)
      lines.push(`  missing     ${m.entry.entryId} (${m.entry.spiffeId}), declared by ${m.label}`);
    for (const c of d.changed) {
      lines.push(`  changed     ${c.entry.entryId} (${c.entry.spiffeId}), declared by ${c.label}`);
      for (const f of c.fields)
        lines.push(`                ${f}: ${FIELD_TEXT[f](c.current)} → ${FIELD_TEXT[f](c.entry)}`);
    }
    for (const u of d.unexpected)
      lines.push(`  unexpected  ${u.entryId} (${u.spiffeId}), declared by no resource of the stack`);
  });
  const servers = `${view.servers.length} server${view.servers.length === 1 ? "" : "s"}`;
  lines.push(
    total.missing + total.changed + total.unexpected === 0
      ? `${name}: no drift: all ${declared} declared entries on ${servers} as declared, none unexpected under ${view.prefix}`
      : `${name}: drift: ${total.missing} missing, ${total.changed} changed, ${total.unexpected} unexpected; ` +
          `${total.asDeclared} of ${declared} declared entries on ${servers} as declared`,
  );
  return lines;
}

/** A runner call to make for the repair, and what it is for. */
export interface RepairCall {
  readonly what: string;
  readonly call: RunnerCall;
}

/**
 * The runner calls that put the stack's view back, through the plans `pulumi up` runs: the update step of each
 * resource with a missing or changed entry (an entry's update re-creates it when it is gone; a set's converges
 * every member), and per server one batch delete of its unexpected entries, by the set runner's delete step.
 */
export function repairCalls(view: StackView, drifts: readonly Drift[]): RepairCall[] {
  const calls: RepairCall[] = [];
  view.servers.forEach((server, i) => {
    const d = drifts[i];
    const drifted = new Set([...d.missing, ...d.changed].map((x) => x.entry.entryId));
    for (const r of server.resources) {
      if (r.entries.some((e) => drifted.has(e.entryId)))
        calls.push({ what: `${r.label}: its update step`, call: r.update });
    }
    if (d.unexpected.length > 0) {
      const ids = d.unexpected.map((e) => e.entryId);
      const plan = JSON.stringify({
        commands: entrySetCommands(server.server.prefix, server.server.socketPath),
        ids,
      });
      calls.push({
        what: `delete ${ids.length} unexpected entr${ids.length === 1 ? "y" : "ies"} (${ids.join(", ")})`,
        call: {
          runner: "spire-entry-set.js",
          argument: planStep(plan, "delete"),
          stdin: plan,
          environment: server.server.access,
        },
      });
    }
  });
  return calls;
}
