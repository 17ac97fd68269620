/**
 * Registration entries: checking them the way the SPIRE server would, deriving stable entry IDs, and building
 * the exact `spire-server entry ...` argv that SpireEntry's commands run. Pure: no Pulumi, no processes.
 */
import { createHash } from "node:crypto";
import { Checker, parseDuration } from "../core/validation";
import type { DeclaredEntry } from "./entryDiff";
import { checkEntryId, checkMemberId, checkWorkloadId, parseTrustDomain } from "./spiffeId";

export interface EntrySpec {
  /** The workload's (or node alias's) SPIFFE ID. */
  readonly spiffeId: string;
  /** Parent ID; required unless `node` is set. Default: none. Conflicts with `node`. */
  readonly parentId?: string;
  /**
   * A node entry: an alias that agents matching the selectors take on; its parent is the server. Default: false.
   * Conflicts with `parentId`.
   */
  readonly node?: boolean;
  /** `type:value` selectors, e.g. `k8s:ns:default`. All must match. */
  readonly selectors: readonly string[];
  /** X.509-SVID lifetime, e.g. "1h". Default: the server's default_x509_svid_ttl. */
  readonly x509SvidTtl?: string;
  /** DNS SANs added to the SVID. Default: none. */
  readonly dnsNames?: readonly string[];
  /**
   * Federated trust domains whose bundles the workload receives (`-federatesWith`), e.g. "east.example" or
   * "spiffe://east.example": its peers in those domains then validate. Each must be federated by the server.
   * Default: none, its own trust domain's bundle only.
   */
  readonly federatesWith?: readonly string[];
}

/**
 * What a plan declares for an entry: the fields of spire/entryDiff.ts's Entry that our entries set (the runners
 * compare it with `entry show -output json` there). x509SvidTtl 0 means the server default; federatesWith holds
 * trust domain names, sorted.
 */
export type ResolvedEntry = DeclaredEntry;

export interface EntryContext {
  readonly trustDomain: string;
  /** Selector types the installation has attestors for. */
  readonly selectorTypes: readonly string[];
  /** Upper bound for entry TTLs (a sixth of the CA lifetime), when known. */
  readonly maxTtlSeconds?: number;
  /** Trust domains the server federates with, when known; undefined for a server this stack does not manage. */
  readonly federatedTrustDomains?: readonly string[];
}

const INT32_MAX = 2 ** 31 - 1;
const dnsName =
  /^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*$/;

/** Splits on the first colon, as the CLI does. */
export function parseSelector(selector: string): { type: string; value: string } {
  if (typeof selector !== "string") throw new Error("must be a string of the form type:value");
  const colon = selector.indexOf(":");
  if (colon <= 0 || colon === selector.length - 1) {
    throw new Error("must be formatted as type:value with a non-empty type and value");
  }
  return { type: selector.slice(0, colon), value: selector.slice(colon + 1) };
}

export function resolveEntry(
  subject: string,
  entryId: string,
  spec: EntrySpec,
  ctx: EntryContext,
): ResolvedEntry {
  const c = new Checker(subject);
  c.attempt("entryId", entryId, () => checkEntryId(entryId));
  c.attempt("spiffeId", spec.spiffeId, () => checkWorkloadId(spec.spiffeId, ctx.trustDomain));
  const serverId = `spiffe://${ctx.trustDomain}/spire/server`;
  if (spec.node === true) {
    c.check(
      spec.parentId === undefined,
      "parentId",
      spec.parentId,
      "conflicts with node: a node entry's parent is the server",
    );
  } else if (
    c.check(spec.parentId !== undefined, "parentId", spec.parentId, "is required unless node is true")
  ) {
    c.attempt("parentId", spec.parentId, () => checkMemberId(spec.parentId as string, ctx.trustDomain));
  }
  const selectors: { type: string; value: string }[] = [];
  if (
    c.check(
      Array.isArray(spec.selectors) && spec.selectors.length > 0,
      "selectors",
      spec.selectors,
      "at least one selector is required",
    )
  ) {
    for (const [i, raw] of spec.selectors.entries()) {
      const parsed = c.attempt(`selectors[${i}]`, raw, () => parseSelector(raw));
      if (!parsed) continue;
      if (
        c.check(
          ctx.selectorTypes.includes(parsed.type),
          `selectors[${i}]`,
          raw,
          `selector type "${parsed.type}" has no attestor in this installation (have: ${ctx.selectorTypes.join(", ")})`,
        )
      ) {
        selectors.push(parsed);
      }
    }
    const unique = new Set(spec.selectors);
    c.check(unique.size === spec.selectors.length, "selectors", spec.selectors, "must not repeat a selector");
  }
  let ttl = 0;
  if (spec.x509SvidTtl !== undefined) {
    const seconds = c.attempt("x509SvidTtl", spec.x509SvidTtl, () =>
      parseDuration(spec.x509SvidTtl as string),
    );
    if (seconds !== undefined) {
      const max = Math.min(INT32_MAX, ctx.maxTtlSeconds ?? INT32_MAX);
      if (
        c.check(
          seconds <= max,
          "x509SvidTtl",
          spec.x509SvidTtl,
          `must be at most ${max}s (ca_ttl / 6, so rotation always overlaps)`,
        )
      )
        ttl = seconds;
    }
  }
  for (const [i, name] of (spec.dnsNames ?? []).entries()) {
    c.check(
      typeof name === "string" && name.length <= 253 && dnsName.test(name),
      `dnsNames[${i}]`,
      name,
      "must be a DNS name (letters, digits, '-', dots; at most one leading '*.')",
    );
  }
  const federatesWith = federatedDomains(c, spec, ctx);
  c.done();
  return {
    entryId,
    spiffeId: spec.spiffeId,
    parentId: spec.node ? serverId : (spec.parentId as string),
    selectors: [...selectors].sort((a, b) => `${a.type}:${a.value}`.localeCompare(`${b.type}:${b.value}`)),
    x509SvidTtl: ttl,
    dnsNames: [...(spec.dnsNames ?? [])],
    federatesWith,
  };
}

/** `federatesWith` as bare trust domains; each must be another domain, one the server federates with. */
function federatedDomains(c: Checker, spec: EntrySpec, ctx: EntryContext): string[] {
  const domains: string[] = [];
  if (spec.federatesWith === undefined) return domains;
  if (!c.check(Array.isArray(spec.federatesWith), "federatesWith", spec.federatesWith, "must be a list"))
    return domains;
  c.check(
    spec.node !== true || spec.federatesWith.length === 0,
    "federatesWith",
    spec.federatesWith,
    "conflicts with node: SPIRE refuses federation on node entries",
  );
  for (const [i, raw] of spec.federatesWith.entries()) {
    const field = `federatesWith[${i}]`;
    const td = c.attempt(field, raw, () =>
      parseTrustDomain(typeof raw === "string" ? raw.replace(/^spiffe:\/\//, "") : (raw as string)),
    );
    if (td === undefined) continue;
    c.check(td !== ctx.trustDomain, field, raw, "is the entry's own trust domain, which is always trusted");
    if (ctx.federatedTrustDomains !== undefined) {
      c.check(
        ctx.federatedTrustDomains.includes(td),
        field,
        raw,
        `is not federated by the installation (federation.federatesWith: ${
          ctx.federatedTrustDomains.length > 0 ? ctx.federatedTrustDomains.join(", ") : "none"
        }); SPIRE refuses an entry without the domain's bundle`,
      );
    }
    c.check(!domains.includes(td), field, raw, "repeats a trust domain");
    domains.push(td);
  }
  return domains.sort();
}

/** Characters SPIRE accepts in an entry ID are kept; any other becomes "_". */
const idCharacters = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, "_");

/**
 * What every entry ID of a stack starts with (deriveEntryId): the stack's share of a server's entries, by which
 * the drift check finds entries the stack does not declare.
 */
export function entryIdPrefix(project: string, stack: string): string {
  return idCharacters(`${project}.${stack}.`);
}

/**
 * A deterministic entry ID from the project, stack and entry name. Readable when it can be; when characters had
 * to be replaced or the ID shortened, a hash of the original keeps distinct names distinct.
 */
export function deriveEntryId(project: string, stack: string, name: string): string {
  const original = `${project}.${stack}.${name}`;
  const cleaned = `${entryIdPrefix(project, stack)}${idCharacters(name)}`;
  if (cleaned === original && cleaned.length <= 200) return cleaned;
  const hash = createHash("sha256").update(original).digest("hex").slice(0, 12);
  return `${cleaned.slice(0, 200)}-${hash}`;
}

/** Flags that describe the entry's content; shared by create and update, which replaces the whole entry. */
function contentFlags(e: ResolvedEntry): string[] {
  return [
    "-entryID",
    e.entryId,
    "-spiffeID",
    e.spiffeId,
    "-parentID",
    e.parentId,
    ...e.selectors.flatMap((s) => ["-selector", `${s.type}:${s.value}`]),
    ...(e.x509SvidTtl > 0 ? ["-x509SVIDTTL", String(e.x509SvidTtl)] : []),
    ...e.dnsNames.flatMap((d) => ["-dns", d]),
    ...e.federatesWith.flatMap((td) => ["-federatesWith", `spiffe://${td}`]),
  ];
}

const socketFlag = (socketPath?: string) => (socketPath ? ["-socketPath", socketPath] : []);

export interface EntryCommands {
  readonly create: readonly string[];
  readonly update: readonly string[];
  readonly show: readonly string[];
  readonly delete: readonly string[];
}

/** Full argv for each lifecycle step; `prefix` runs the server binary (locally or through kubectl exec). */
export function entryCommands(
  prefix: readonly string[],
  e: ResolvedEntry,
  socketPath?: string,
): EntryCommands {
  const sub = (verb: string, flags: string[]) => [
    ...prefix,
    "entry",
    verb,
    ...socketFlag(socketPath),
    ...flags,
    "-output",
    "json",
  ];
  return {
    create: sub("create", contentFlags(e)),
    update: sub("update", contentFlags(e)),
    show: sub("show", ["-entryID", e.entryId]),
    delete: sub("delete", ["-entryID", e.entryId]),
  };
}

export interface EntryPlans {
  readonly create: string;
  readonly update: string;
  readonly delete: string;
}

/** The JSON plans bin/spire-entry.js executes for each lifecycle step (see that file for the semantics). */
export function entryPlans(
  commands: EntryCommands,
  entry: ResolvedEntry,
  options: { readonly deleteWithoutServer?: boolean } = {},
): EntryPlans {
  const { entryId } = entry;
  return {
    create: JSON.stringify({
      step: "create",
      entryId,
      create: commands.create,
      show: commands.show,
      update: commands.update,
      expect: entry,
    }),
    update: JSON.stringify({
      step: "update",
      entryId,
      update: commands.update,
      create: commands.create,
      show: commands.show,
      expect: entry,
    }),
    delete: JSON.stringify({
      step: "delete",
      entryId,
      delete: commands.delete,
      ...(options.deleteWithoutServer ? { deleteWithoutServer: true } : {}),
    }),
  };
}
