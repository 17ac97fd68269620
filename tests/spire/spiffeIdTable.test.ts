/**
 * Our entry validator against the real SPIRE 1.13.3 server, row by row: every SPIFFE ID, parent ID and selector
 * in the table goes through `resolveEntry` and through `spire-server entry create`, and the verdicts must agree.
 */
import * as assert from "node:assert/strict";
import { ValidationError } from "../../core/validation";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { resolveEntry } from "../../spire/entries";

const TD = "howto-k8s-mtls-sds-based.aws";
const ID = `spiffe://${TD}`;
const PARENT = `${ID}/ns/spire/sa/spire-agent`;
const SELECTOR = "k8s:ns:default";

interface Row {
  readonly name: string;
  readonly spiffeId: string;
  readonly parentId: string;
  readonly selectors: readonly string[];
  /** Default: a distinct valid ID per row. */
  readonly entryId?: string;
  /** What the SPIFFE spec and SPIRE's entry rules say; a wrong row shows up against SPIRE's own verdict. */
  readonly expect: "accept" | "reject";
}

const spiffeIdRow = (name: string, spiffeId: string, expect: Row["expect"]): Row => ({
  name: `spiffeId ${name}`,
  spiffeId,
  parentId: PARENT,
  selectors: [SELECTOR],
  expect,
});
const parentRow = (name: string, parentId: string, expect: Row["expect"]): Row => ({
  name: `parentId ${name}`,
  spiffeId: `${ID}/parent-row`,
  parentId,
  selectors: [SELECTOR],
  expect,
});
const selectorRow = (name: string, selectors: string | string[], expect: Row["expect"]): Row => ({
  name: `selector ${name}`,
  spiffeId: `${ID}/selector-row`,
  parentId: PARENT,
  selectors: typeof selectors === "string" ? [selectors] : selectors,
  expect,
});
const entryIdRow = (name: string, entryId: string, expect: Row["expect"]): Row => ({
  name: `entryId ${name}`,
  entryId,
  spiffeId: `${ID}/entry-id-row`,
  parentId: PARENT,
  selectors: [SELECTOR],
  expect,
});

const rows: readonly Row[] = [
  spiffeIdRow("simple path", `${ID}/front`, "accept"),
  spiffeIdRow("multi-segment path", `${ID}/ns/default/sa/default`, "accept"),
  spiffeIdRow("uppercase path (paths are case-sensitive)", `${ID}/Front/API`, "accept"),
  spiffeIdRow("segment .a", `${ID}/.a`, "accept"),
  spiffeIdRow("segment ..a", `${ID}/..a`, "accept"),
  spiffeIdRow("segment ...", `${ID}/...`, "accept"),
  spiffeIdRow("dash, underscore and dot", `${ID}/a-b_c.d`, "accept"),
  spiffeIdRow("/spire2 is not reserved", `${ID}/spire2`, "accept"),
  spiffeIdRow("spire as a later segment", `${ID}/a/spire`, "accept"),
  spiffeIdRow("3000-byte path (no length limit)", `${ID}/${"a".repeat(3000)}`, "accept"),
  spiffeIdRow("empty", "", "reject"),
  spiffeIdRow("empty path", ID, "reject"),
  spiffeIdRow("only a slash", `${ID}/`, "reject"),
  spiffeIdRow("reserved /spire", `${ID}/spire`, "reject"),
  spiffeIdRow("reserved /spire/...", `${ID}/spire/agent/x`, "reject"),
  spiffeIdRow("other trust domain", "spiffe://example.org/front", "reject"),
  spiffeIdRow("trust domain with a trailing dot", `spiffe://${TD}./front`, "reject"),
  spiffeIdRow("uppercase trust domain", `spiffe://${TD.toUpperCase()}/front`, "reject"),
  spiffeIdRow("spiffe:/ (one slash)", `spiffe:/${TD}/front`, "reject"),
  spiffeIdRow("Spiffe:// (scheme case)", `Spiffe://${TD}/front`, "reject"),
  spiffeIdRow("https scheme", `https://${TD}/front`, "reject"),
  spiffeIdRow("no scheme", `${TD}/front`, "reject"),
  spiffeIdRow("missing trust domain", "spiffe:///front", "reject"),
  spiffeIdRow("port", `spiffe://${TD}:443/front`, "reject"),
  spiffeIdRow("userinfo", `spiffe://user@${TD}/front`, "reject"),
  spiffeIdRow("query", `${ID}/front?x=1`, "reject"),
  spiffeIdRow("fragment", `${ID}/front#frag`, "reject"),
  spiffeIdRow("percent-encoding", `${ID}/fr%6Fnt`, "reject"),
  spiffeIdRow("empty segment //", `${ID}//front`, "reject"),
  spiffeIdRow("trailing slash", `${ID}/front/`, "reject"),
  spiffeIdRow("dot segment", `${ID}/./front`, "reject"),
  spiffeIdRow("dot-dot segment", `${ID}/a/../front`, "reject"),
  spiffeIdRow("unicode", `${ID}/grün`, "reject"),
  spiffeIdRow("space inside", `${ID}/a b`, "reject"),
  spiffeIdRow("leading space", ` ${ID}/front`, "reject"),
  spiffeIdRow("colon in path", `${ID}/a:b`, "reject"),
  spiffeIdRow("tilde in path", `${ID}/~user`, "reject"),
  parentRow("node alias", PARENT, "accept"),
  parentRow("the server (/spire is fine for parents)", `${ID}/spire/server`, "accept"),
  parentRow("a join-token agent", `${ID}/spire/agent/join_token/abc`, "accept"),
  parentRow("empty", "", "reject"),
  parentRow("empty path", ID, "reject"),
  parentRow("other trust domain", "spiffe://example.org/ns/spire/sa/spire-agent", "reject"),
  parentRow("trailing slash", `${PARENT}/`, "reject"),
  parentRow("Spiffe:// (scheme case)", `Spiffe://${TD}/agent`, "reject"),
  parentRow("query", `${PARENT}?x=1`, "reject"),
  parentRow("dot-dot segment", `${ID}/ns/../agent`, "reject"),
  selectorRow("type:value", "k8s:ns:default", "accept"),
  selectorRow("value containing colons", "k8s:pod-label:app:front", "accept"),
  selectorRow("value that is a SPIFFE ID", `spiffe_id:${PARENT}`, "accept"),
  selectorRow("value that is only a colon", "k8s::", "accept"),
  selectorRow("value with a space", "unix:user:a b", "accept"),
  selectorRow("unicode value", "k8s:pod-label:app:grün", "accept"),
  selectorRow("missing colon", "k8s", "reject"),
  selectorRow("empty type", ":ns:default", "reject"),
  selectorRow("empty value", "k8s:", "reject"),
  selectorRow("empty selector", "", "reject"),
  selectorRow("type with a space", "k 8s:x", "accept"),
  selectorRow("whitespace-only value", "k8s: ", "accept"),
  selectorRow("two different selectors", ["k8s:ns:default", "k8s:sa:default"], "accept"),
  selectorRow("the same selector twice", ["k8s:ns:default", "k8s:ns:default"], "reject"),
  entryIdRow("dotted, as deriveEntryId makes them", "spire-mesh.dev.front", "accept"),
  entryIdRow("255 characters", "e".repeat(255), "accept"),
  entryIdRow("256 characters", "e".repeat(256), "reject"),
  entryIdRow("with a slash", "a/b", "reject"),
  entryIdRow("with a space", "a b", "reject"),
  entryIdRow("non-ASCII", "grün", "reject"),
];

/** The rows' selector types, so `selectorTypes` admits them and only syntax is compared. */
const selectorTypes = (selectors: readonly string[]) =>
  selectors.map((s) => (s.includes(":") ? s.slice(0, s.indexOf(":")) : s));

function ourVerdict(row: Row): { accepted: boolean; reason: string } {
  try {
    const spec = { spiffeId: row.spiffeId, parentId: row.parentId, selectors: row.selectors };
    resolveEntry("table row", row.entryId ?? "table-row", spec, {
      trustDomain: TD,
      selectorTypes: selectorTypes(row.selectors),
    });
    return { accepted: true, reason: "" };
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return { accepted: false, reason: e.problems.map((p) => `${p.field}: ${p.rule}`).join("; ") };
  }
}

/** CLI-side errors exit 1; server-side rejections exit 0 with a per-result status. Both are "rejected". */
function spireVerdict(
  spire: SpireHarness,
  row: Row,
  defaultEntryId: string,
): { accepted: boolean; reason: string } {
  const entryId = row.entryId ?? defaultEntryId;
  const args = ["entry", "create", "-entryID", entryId, "-spiffeID", row.spiffeId, "-parentID", row.parentId];
  const selectorFlags = row.selectors.flatMap((s) => ["-selector", s]);
  const result = spire.server([...args, ...selectorFlags, "-output", "json"]);
  if (result.status !== 0)
    return { accepted: false, reason: `exit ${result.status}: ${result.stderr.trim()}` };
  const status = (JSON.parse(result.stdout) as { results: { status: { code: number; message: string } }[] })
    .results[0].status;
  if (status.code !== 0) return { accepted: false, reason: `code ${status.code}: ${status.message}` };
  // Remove it again so later rows can never collide with "similar entry already exists".
  const deleted = spire.server(["entry", "delete", "-entryID", entryId]);
  assert.equal(deleted.status, 0, `could not delete ${entryId}: ${deleted.stderr}`);
  return { accepted: true, reason: "" };
}

describe("SPIFFE ID, parent ID and selector rules against spire-server 1.13.3", function () {
  this.timeout(120_000);
  let spire: SpireHarness;

  before(async () => {
    spire = await startSpire();
  });

  after(async () => {
    await spire?.stop();
  });

  it("our validator and spire-server agree on every row, and both match the documented rule", () => {
    const report = rows.map((row, i) => ({
      row,
      ours: ourVerdict(row),
      spire: spireVerdict(spire, row, `table-${i}`),
    }));
    const verdict = (accepted: boolean) => (accepted ? "accept" : "reject");
    const disagreements = report
      .filter((r) => r.ours.accepted !== r.spire.accepted)
      .map(
        (r) =>
          `${r.row.name} (${JSON.stringify(r.row).slice(0, 300)}): ours=${verdict(r.ours.accepted)} ${r.ours.reason} | ` +
          `spire=${verdict(r.spire.accepted)} ${r.spire.reason}`,
      );
    assert.deepEqual(disagreements, [], `validator disagrees with SPIRE on:\n${disagreements.join("\n")}`);
    const misdescribed = report
      .filter((r) => verdict(r.spire.accepted) !== r.row.expect)
      .map(
        (r) =>
          `${r.row.name}: table says ${r.row.expect}, spire says ${verdict(r.spire.accepted)} ${r.spire.reason}`,
      );
    assert.deepEqual(
      misdescribed,
      [],
      `table rows that do not test what they claim:\n${misdescribed.join("\n")}`,
    );
    // Every accepted row was deleted again: the server is back to empty.
    assert.deepEqual(spire.entries(), []);
  });

  it("rejects a selector type the installation has no attestor for, which SPIRE itself accepts", () => {
    const spec = {
      spiffeId: `${ID}/docker-workload`,
      parentId: PARENT,
      selectors: ["docker:label:app:front"],
    };
    assert.throws(
      () =>
        resolveEntry("docker row", "docker-row", spec, {
          trustDomain: TD,
          selectorTypes: spire.settings.selectorTypes,
        }),
      (e: unknown) =>
        e instanceof ValidationError && /selector type "docker" has no attestor/.test(e.message),
    );
    const row: Row = { name: "docker selector", ...spec, expect: "accept" };
    assert.equal(spireVerdict(spire, row, "docker-row").accepted, true, "SPIRE accepts any selector type");
  });
});
