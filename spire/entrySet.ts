/**
 * Many registration entries kept as one set with SPIRE's batch CLI (`entry create|update -data -`, `entry delete
 * -file -`, each one call for the whole set, JSON on stdin), for SpireEntrySet. Each member keeps the entry ID it
 * would have as a SpireEntry of the same name, so a stack can move between the two without re-registering. Pure.
 *
 * The plan reaches the runner on the command's stdin, never in argv or the environment: one argument may hold at
 * most 128 KiB on Linux (MAX_ARG_STRLEN), which a plan passes at about 200 entries. argv carries the step and
 * the plan's SHA-256 only, so the step strings stay small and still change whenever the plan does.
 */
import { createHash } from "node:crypto";
import { Checker } from "../core/validation";
import {
  deriveEntryId,
  type EntryContext,
  type EntrySpec,
  type ResolvedEntry,
  resolveEntry,
} from "./entries";

export interface EntrySetMember extends EntrySpec {
  /** Unique within the set; the entry ID derives from it, as a SpireEntry's does from its name. */
  readonly name: string;
}

/** Checks every member as the server would, and the set as a whole: names and entries must not repeat. */
export function resolveEntrySet(
  subject: string,
  project: string,
  stack: string,
  members: readonly EntrySetMember[],
  ctx: EntryContext,
): ResolvedEntry[] {
  const c = new Checker(subject);
  c.check(Array.isArray(members) && members.length > 0, "entries", members, "at least one entry is required");
  const resolved: ResolvedEntry[] = [];
  const names = new Map<string, number>();
  const similar = new Map<string, number>();
  for (const [i, m] of (members ?? []).entries()) {
    const field = `entries[${i}]`;
    if (c.check(typeof m?.name === "string" && m.name !== "", `${field}.name`, m?.name, "is required")) {
      const first = names.get(m.name);
      c.check(
        first === undefined,
        `${field}.name`,
        m.name,
        `repeats entries[${first}].name (entry IDs derive from it)`,
      );
      names.set(m.name, i);
    }
    const entry = c.attempt(field, m?.spiffeId, () =>
      resolveEntry(`${subject} ${field}`, deriveEntryId(project, stack, m.name), m, ctx),
    );
    if (!entry) continue;
    // SPIRE refuses a second entry with the same parent, SPIFFE ID and selectors ("similar entry").
    const key = JSON.stringify([entry.parentId, entry.spiffeId, entry.selectors]);
    const twin = similar.get(key);
    c.check(
      twin === undefined,
      `${field}.selectors`,
      m.selectors,
      `repeats entries[${twin}]: the same parent, SPIFFE ID and selectors (SPIRE keeps one such entry)`,
    );
    similar.set(key, i);
    resolved.push(entry);
  }
  const idBytes = Buffer.byteLength(JSON.stringify(resolved.map((e) => e.entryId)));
  c.check(
    idBytes <= MAX_ENTRY_ID_BYTES,
    "entries",
    `${resolved.length} entries whose IDs take ${idBytes} bytes`,
    `the IDs of one set may take at most ${MAX_ENTRY_ID_BYTES} bytes: each run hands them to the next in an ` +
      "environment variable (PULUMI_COMMAND_STDOUT), which Linux caps at 128 KiB; split the entries into several sets",
  );
  c.done();
  return resolved;
}

/**
 * Room for the set's entry IDs in the runner's stdout, which the command provider hands to the next update as
 * PULUMI_COMMAND_STDOUT: the one value that grows with the set (it says which entries an update may remove).
 * Half of Linux's 128 KiB per-string limit, about 2 000 entries of 30 characters.
 */
export const MAX_ENTRY_ID_BYTES = 64 * 1024;

/** An entry as the batch CLI reads it (`-data`): IDs as strings, selectors as type/value pairs. */
export function registrationJson(e: ResolvedEntry) {
  return {
    entry_id: e.entryId,
    spiffe_id: e.spiffeId,
    parent_id: e.parentId,
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    ...(e.x509SvidTtl > 0 ? { x509_svid_ttl: e.x509SvidTtl } : {}),
    ...(e.dnsNames.length > 0 ? { dns_names: [...e.dnsNames] } : {}),
    // 1.13.3 reads trust domain IDs here (bare names too) and shows bare names back.
    ...(e.federatesWith.length > 0 ? { federates_with: e.federatesWith.map((td) => `spiffe://${td}`) } : {}),
  };
}

export interface EntrySetCommands {
  readonly show: readonly string[];
  readonly create: readonly string[];
  readonly update: readonly string[];
  readonly delete: readonly string[];
}

/** One argv per batch operation; the entries go on stdin ("-"). */
export function entrySetCommands(prefix: readonly string[], socketPath?: string): EntrySetCommands {
  const sub = (verb: string, flags: string[]) => [
    ...prefix,
    "entry",
    verb,
    ...(socketPath ? ["-socketPath", socketPath] : []),
    ...flags,
    "-output",
    "json",
  ];
  return {
    show: sub("show", []),
    create: sub("create", ["-data", "-"]),
    update: sub("update", ["-data", "-"]),
    delete: sub("delete", ["-file", "-"]),
  };
}

/** What SpireEntrySet's command gets: the plan on stdin, and a small JSON argument per lifecycle step. */
export interface EntrySetCommand {
  readonly stdin: string;
  readonly create: string;
  readonly update: string;
  readonly delete: string;
}

/** The plan bin/spire-entry-set.js executes (see that file for the semantics), and its steps. */
export function entrySetCommand(
  commands: EntrySetCommands,
  entries: readonly ResolvedEntry[],
  options: { readonly deleteWithoutServer?: boolean } = {},
): EntrySetCommand {
  const plan = JSON.stringify({
    commands: {
      show: commands.show,
      create: commands.create,
      update: commands.update,
      delete: commands.delete,
    },
    expect: entries,
    data: entries.map(registrationJson),
    ...(options.deleteWithoutServer ? { deleteWithoutServer: true } : {}),
  });
  return {
    stdin: plan,
    create: planStep(plan, "create"),
    update: planStep(plan, "update"),
    delete: planStep(plan, "delete"),
  };
}

/** A step's argument for a plan that goes on stdin: the step and the plan's SHA-256, which the runner checks. */
export function planStep(plan: string, step: "create" | "update" | "delete"): string {
  return JSON.stringify({ step, planSha256: createHash("sha256").update(plan).digest("hex") });
}
