/**
 * Registration entries as SPIRE stores them, and the comparison of what the server shows with what a plan
 * declares: which entries to create, which to update (naming the fields that differ), which to remove and which
 * are already right. Pure and without imports: the runners in bin/ load its build (dist/spire/entryDiff.js) and
 * only do the server calls. Modelled on spire-controller-manager's pkg/spireentry/reconciler.go (entriesState,
 * getOutdatedEntryFields).
 */

export interface Selector {
  readonly type: string;
  readonly value: string;
}

/** A registration entry with every field the server stores, named as in the plans (SPIRE's names: ENTRY_FIELDS). */
export interface Entry {
  readonly entryId: string;
  readonly spiffeId: string;
  readonly parentId: string;
  readonly selectors: readonly Selector[];
  /** Seconds; 0 in a declared entry means the server default, which matches whatever the server shows. */
  readonly x509SvidTtl: number;
  /** In order: the first DNS name becomes the SVID's subject CN, so order is part of the entry. */
  readonly dnsNames: readonly string[];
  /** Bare trust domain names (the server shows them so). */
  readonly federatesWith: readonly string[];
  /** The SVID may call the server's management API. */
  readonly admin: boolean;
  /** The SVID may mint SVIDs as a nested server. */
  readonly downstream: boolean;
  /** The SVID goes to an SVIDStore plugin. */
  readonly storeSvid: boolean;
  /** Unix seconds when the server prunes the entry; 0 for never. */
  readonly expiresAt: number;
  /** Seconds; 0 for the server default. */
  readonly jwtSvidTtl: number;
  /** What workloads see to tell identities apart. */
  readonly hint: string;
}

/** The fields our plans set (spire/entries.ts resolves them); the rest are UNSET_FIELDS. */
export type DeclaredEntry = Pick<
  Entry,
  "entryId" | "spiffeId" | "parentId" | "selectors" | "x509SvidTtl" | "dnsNames" | "federatesWith"
>;

/**
 * What the fields our entries never set must be. An entry holding another value under our ID (made in advance
 * under the predictable ID, or changed later with `entry update -admin`) grants more than the plan says, so it
 * differs, and the update, which replaces the whole entry, resets it.
 */
export const UNSET_FIELDS = {
  admin: false,
  downstream: false,
  storeSvid: false,
  expiresAt: 0,
  jwtSvidTtl: 0,
  hint: "",
} as const satisfies Omit<Entry, keyof DeclaredEntry>;

/** The compared fields by SPIRE's names (`entry show -output json`), in the order failures and outcomes list them. */
export const ENTRY_FIELDS = {
  spiffe_id: "spiffeId",
  parent_id: "parentId",
  selectors: "selectors",
  x509_svid_ttl: "x509SvidTtl",
  dns_names: "dnsNames",
  federates_with: "federatesWith",
  admin: "admin",
  downstream: "downstream",
  store_svid: "storeSvid",
  expires_at: "expiresAt",
  jwt_svid_ttl: "jwtSvidTtl",
  hint: "hint",
} as const satisfies Record<string, Exclude<keyof Entry, "entryId">>;

export type EntryField = keyof typeof ENTRY_FIELDS;

/** A declared entry with the fields it never sets at their UNSET_FIELDS values. */
export function declaredEntry(e: DeclaredEntry): Entry {
  return { ...e, ...UNSET_FIELDS };
}

// biome-ignore lint/suspicious/noExplicitAny: protojson from the CLI, read field by field below.
type ShownJson = any;

/** An entry from `entry show -output json` (protojson: unset fields are absent, IDs are trust domain and path). */
export function shownEntry(e: ShownJson): Entry {
  const id = (x: ShownJson) => `spiffe://${x.trust_domain}${x.path}`;
  return {
    entryId: String(e.id),
    spiffeId: id(e.spiffe_id),
    parentId: id(e.parent_id),
    selectors: (e.selectors ?? []).map((s: ShownJson) => ({ type: String(s.type), value: String(s.value) })),
    x509SvidTtl: Number(e.x509_svid_ttl ?? 0),
    dnsNames: [...(e.dns_names ?? [])].map(String),
    // Shown as bare names; an ID form is read as its name.
    federatesWith: [...(e.federates_with ?? [])].map((td) => String(td).replace(/^spiffe:\/\//, "")),
    admin: e.admin === true,
    downstream: e.downstream === true,
    storeSvid: e.store_svid === true,
    expiresAt: Number(e.expires_at ?? 0),
    jwtSvidTtl: Number(e.jwt_svid_ttl ?? 0),
    hint: String(e.hint ?? ""),
  };
}

const selectorText = (s: Selector) => `${s.type}:${s.value}`;
const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const sorted = (xs: readonly string[]) => [...xs].sort();

/** Whether `current` holds what `declared` says in one field. Selectors and trust domains are sets. */
const FIELD_MATCHES: { readonly [F in EntryField]: (current: Entry, declared: Entry) => boolean } = {
  spiffe_id: (c, d) => c.spiffeId === d.spiffeId,
  parent_id: (c, d) => c.parentId === d.parentId,
  selectors: (c, d) => sameList(sorted(c.selectors.map(selectorText)), sorted(d.selectors.map(selectorText))),
  x509_svid_ttl: (c, d) => d.x509SvidTtl === 0 || c.x509SvidTtl === d.x509SvidTtl,
  dns_names: (c, d) => sameList(c.dnsNames, d.dnsNames),
  federates_with: (c, d) => sameList(sorted(c.federatesWith), sorted(d.federatesWith)),
  admin: (c, d) => c.admin === d.admin,
  downstream: (c, d) => c.downstream === d.downstream,
  store_svid: (c, d) => c.storeSvid === d.storeSvid,
  expires_at: (c, d) => c.expiresAt === d.expiresAt,
  jwt_svid_ttl: (c, d) => c.jwtSvidTtl === d.jwtSvidTtl,
  hint: (c, d) => c.hint === d.hint,
};

/** The fields in which the server's entry differs from the declared one, by SPIRE's names; empty when it matches. */
export function outdatedFields(current: Entry, declared: Entry): EntryField[] {
  return (Object.keys(FIELD_MATCHES) as EntryField[]).filter((f) => !FIELD_MATCHES[f](current, declared));
}

export interface EntryDiff {
  /** Declared entries the server does not hold under their ID. */
  readonly create: readonly Entry[];
  /** Declared entries the server holds with other values, and the fields that differ. */
  readonly update: readonly { readonly entry: Entry; readonly fields: readonly EntryField[] }[];
  /** Entries the server holds that are owned here and no longer declared. */
  readonly remove: readonly Entry[];
  /** Declared entries the server already holds as declared. */
  readonly unchanged: readonly Entry[];
}

/**
 * What to do so that the server holds `declared`, matched by entry ID. Only entries whose ID is in `ownedIds`
 * (what this set registered before) are ever removed: an entry of the same stack under the same
 * `<project>.<stack>.` prefix may belong to a SpireEntry or another set, so a prefix does not make it ours.
 */
export function diffEntries(
  shown: readonly Entry[],
  declared: readonly Entry[],
  ownedIds: readonly string[],
): EntryDiff {
  const onServer = new Map(shown.map((e) => [e.entryId, e]));
  const create: Entry[] = [];
  const update: { entry: Entry; fields: EntryField[] }[] = [];
  const unchanged: Entry[] = [];
  for (const entry of declared) {
    const current = onServer.get(entry.entryId);
    const fields = current ? outdatedFields(current, entry) : [];
    if (!current) create.push(entry);
    else if (fields.length > 0) update.push({ entry, fields });
    else unchanged.push(entry);
  }
  const wanted = new Set(declared.map((e) => e.entryId));
  const remove = [...new Set(ownedIds)]
    .filter((id) => !wanted.has(id))
    .flatMap((id) => onServer.get(id) ?? []);
  return { create, update, remove, unchanged };
}
