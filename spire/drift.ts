/**
 * Drift between the registration entries a stack declares (spire/declaredEntries.ts) and what its SPIRE servers
 * hold: which are missing, changed (in which fields) or unexpected, the report, and the runner calls that put the
 * stack's view back through the plans `pulumi up` runs. Pure: bin/spire-drift.js runs the processes.
 */
import type { RunnerCall, ServerAddress, StackView } from "./declaredEntries";
import { diffEntries, type Entry, type EntryField } from "./entryDiff";
import { entrySetCommands, planStep } from "./entrySet";

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
