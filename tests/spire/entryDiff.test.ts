/**
 * The entry comparison without a server: what `entry show -output json` shows (as protojson, the shapes
 * tests/spire/entries.test.ts and entrySet.test.ts see from a real spire-server 1.13.3) against what a plan
 * declares. Each field on its own: a change in it alone must be named, and nothing else.
 */
import * as assert from "node:assert/strict";
import {
  type DeclaredEntry,
  declaredEntry,
  diffEntries,
  ENTRY_FIELDS,
  type Entry,
  outdatedFields,
  shownEntry,
} from "../../spire/entryDiff";

const TD = "example.org";

/** A plan's entry, as spire/entries.ts resolves it (selectors and federatesWith sorted). */
const declared = (name: string, over: Partial<DeclaredEntry> = {}): DeclaredEntry => ({
  entryId: `spire-mesh.test.${name}`,
  spiffeId: `spiffe://${TD}/ns/app/sa/${name}`,
  parentId: `spiffe://${TD}/ns/spire/sa/spire-agent`,
  selectors: [
    { type: "k8s", value: "ns:app" },
    { type: "k8s", value: `sa:${name}` },
  ],
  x509SvidTtl: 600,
  dnsNames: [`${name}.app.svc`, `${name}.app`],
  federatesWith: ["east.example", "west.example"],
  ...over,
});

/** The same entry as the server shows it: IDs split, unset fields absent, selectors in the server's order. */
// biome-ignore lint/suspicious/noExplicitAny: protojson as the CLI prints it.
const shownJson = (d: DeclaredEntry, over: Record<string, unknown> = {}): any => {
  const id = (spiffeId: string) => {
    const [, trustDomain, path] = /^spiffe:\/\/([^/]+)(.*)$/.exec(spiffeId) ?? [];
    return { trust_domain: trustDomain, path };
  };
  return {
    id: d.entryId,
    spiffe_id: id(d.spiffeId),
    parent_id: id(d.parentId),
    selectors: [...d.selectors].reverse(),
    x509_svid_ttl: d.x509SvidTtl,
    dns_names: [...d.dnsNames],
    federates_with: [...d.federatesWith].reverse(),
    revision_number: "3",
    created_at: "1765000000",
    ...over,
  };
};

const compare = (over: Record<string, unknown>, plan = declared("web")) =>
  outdatedFields(shownEntry(shownJson(plan, over)), declaredEntry(plan));

describe("entry diff: one field at a time, named as SPIRE names it", () => {
  it("an entry shown as declared matches, whatever order the server lists selectors and trust domains in", () => {
    const plan = declared("web");
    const shown = shownJson(plan);
    // The witness that the order differs: the server's list is not the plan's.
    assert.notDeepEqual(shown.selectors, plan.selectors);
    assert.notDeepEqual(shown.federates_with, plan.federatesWith);
    assert.deepEqual(outdatedFields(shownEntry(shown), declaredEntry(plan)), []);
  });

  const cases: readonly [field: string, shownOverride: Record<string, unknown>][] = [
    ["spiffe_id", { spiffe_id: { trust_domain: TD, path: "/ns/app/sa/other" } }],
    ["parent_id", { parent_id: { trust_domain: TD, path: "/spire/server" } }],
    ["selectors", { selectors: [{ type: "k8s", value: "ns:app" }] }],
    ["x509_svid_ttl", { x509_svid_ttl: 3600 }],
    ["dns_names", { dns_names: ["web.app", "web.app.svc"] }],
    ["federates_with", { federates_with: ["east.example"] }],
    ["admin", { admin: true }],
    ["downstream", { downstream: true }],
    ["store_svid", { store_svid: true }],
    ["expires_at", { expires_at: "1900000000" }],
    ["jwt_svid_ttl", { jwt_svid_ttl: 300 }],
    ["hint", { hint: "planted" }],
  ];

  it("the cases cover every compared field", () => {
    assert.deepEqual(
      cases.map(([field]) => field),
      Object.keys(ENTRY_FIELDS),
    );
  });

  for (const [field, over] of cases) {
    it(`${field}: a server value other than the plan's is named, and only it`, () => {
      assert.deepEqual(compare(over), [field]);
    });
  }

  it("several fields differing are all named, in SPIRE's field order", () => {
    assert.deepEqual(compare({ hint: "planted", admin: true, store_svid: true, downstream: true }), [
      "admin",
      "downstream",
      "store_svid",
      "hint",
    ]);
  });

  it("dns_names is a list, not a set: the first name is the SVID's CN, so reordering differs", () => {
    const plan = declared("web");
    assert.deepEqual(compare({ dns_names: [...plan.dnsNames].reverse() }, plan), ["dns_names"]);
  });

  it("a plan without a TTL of its own (0) matches whatever default the server shows", () => {
    const plan = declared("web", { x509SvidTtl: 0 });
    assert.deepEqual(compare({ x509_svid_ttl: 3600 }, plan), []);
    assert.deepEqual(compare({ x509_svid_ttl: 0 }, plan), []);
  });

  it("reads trust domains written as IDs as their names", () => {
    assert.deepEqual(compare({ federates_with: ["spiffe://west.example", "spiffe://east.example"] }), []);
  });

  it("a plan written before federation existed (no federatesWith) differs from a federating entry", () => {
    const plan = { ...declared("web"), federatesWith: [] };
    assert.deepEqual(compare({ federates_with: ["east.example"] }, plan), ["federates_with"]);
    assert.deepEqual(compare({ federates_with: undefined }, plan), []);
  });

  it("fields the server omits read as unset: false, 0 and the empty hint match the plan", () => {
    const entry = shownEntry(shownJson(declared("web")));
    assert.deepEqual(
      [entry.admin, entry.downstream, entry.storeSvid, entry.expiresAt, entry.jwtSvidTtl, entry.hint],
      [false, false, false, 0, 0, ""],
    );
  });
});

describe("diffEntries: what to create, update, remove and leave alone", () => {
  const plan = ["a", "b", "c", "d"].map((n) => declared(n));
  const asShown = (d: DeclaredEntry, over: Record<string, unknown> = {}): Entry =>
    shownEntry(shownJson(d, over));
  const ids = (entries: readonly Entry[]) => entries.map((e) => e.entryId);

  it("sorts the declared entries by what the server holds under their IDs", () => {
    const shown = [asShown(plan[0]), asShown(plan[1], { admin: true, x509_svid_ttl: 60 }), asShown(plan[3])];
    const diff = diffEntries(shown, plan.map(declaredEntry), []);
    assert.deepEqual(ids(diff.create), ["spire-mesh.test.c"]);
    assert.deepEqual(
      diff.update.map((u) => [u.entry.entryId, u.fields]),
      [["spire-mesh.test.b", ["x509_svid_ttl", "admin"]]],
    );
    assert.deepEqual(ids(diff.unchanged), ["spire-mesh.test.a", "spire-mesh.test.d"]);
    assert.deepEqual(ids(diff.remove), []);
  });

  it("updates to the declared values (the batch update replaces the whole entry)", () => {
    const diff = diffEntries([asShown(plan[0], { hint: "planted" })], [declaredEntry(plan[0])], []);
    assert.equal(diff.update[0].entry.hint, "");
    assert.equal(diff.update[0].entry.x509SvidTtl, plan[0].x509SvidTtl);
  });

  it("removes only entries it owns (the previous run's IDs) that are no longer declared and still shown", () => {
    const dropped = declared("dropped");
    const gone = declared("gone");
    // Same `<project>.<stack>.` prefix as the set's own: a SpireEntry of this stack, never registered by the set.
    const sibling = declared("sibling-spire-entry");
    const stranger = { ...declared("stranger"), entryId: "other-project.prod.stranger" };
    const shown = [plan[0], dropped, sibling, stranger].map((d) => asShown(d));
    const owned = [plan[0].entryId, dropped.entryId, gone.entryId];
    const diff = diffEntries(shown, [declaredEntry(plan[0])], owned);
    assert.deepEqual(ids(diff.remove), [dropped.entryId]);
    assert.ok(sibling.entryId.startsWith("spire-mesh.test."), "the sibling shares the set's ID prefix");
    assert.deepEqual(ids(diff.unchanged), [plan[0].entryId]);
  });

  it("with no owned IDs (a create, or a state without them) removes nothing", () => {
    const shown = [asShown(declared("leftover"))];
    assert.deepEqual(diffEntries(shown, [declaredEntry(plan[0])], []).remove, []);
  });

  it("an empty server: everything is created; nothing declared: only owned entries go", () => {
    assert.deepEqual(ids(diffEntries([], plan.map(declaredEntry), []).create), ids(plan.map(declaredEntry)));
    const diff = diffEntries([asShown(plan[0]), asShown(plan[1])], [], [plan[1].entryId]);
    assert.deepEqual(ids(diff.remove), [plan[1].entryId]);
    assert.deepEqual([diff.create, diff.update, diff.unchanged], [[], [], []]);
  });
});
