/**
 * The one caller checker (mesh/callers.ts) that MeshWorkload, MtlsVirtualGateway, the gateway listener and the
 * virtual node share: each rule with a list that breaks only it, and a valid list that passes every rule.
 */
import assert from "node:assert/strict";
import { Checker, type Problem, ValidationError } from "../../core/validation";
import {
  CALLER_FORMS_RULE,
  CALLER_ID_FORMS_RULE,
  CALLER_NAMESPACE_RULE,
  CALLER_POD_LABELS_RULE,
  CALLER_REPEAT_RULE,
  type CallerRules,
  checkCallers,
} from "../../mesh/callers";

const TD = "west.example";
const FRONT = `spiffe://${TD}/ns/shop/sa/front`;
const EAST = "spiffe://east.example/ns/shop/sa/web";
const pods = { namespace: "shop", podLabels: { app: "front" } };
const rules: CallerRules = { at: (i) => `callers[${i}]`, trustDomain: TD, federated: ["east.example"] };

/** Runs the checker; gives what it resolved and every problem it recorded. */
function run(callers: readonly unknown[], over: Partial<CallerRules> = {}) {
  const c = new Checker("test");
  const checked = checkCallers(c, callers, { ...rules, ...over });
  try {
    c.done();
    return { checked, problems: [] as readonly Problem[] };
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return { checked, problems: e.problems };
  }
}

/** Expects exactly one problem, at `field`, whose rule matches. */
function rejects(
  callers: readonly unknown[],
  field: string,
  rule: string | RegExp,
  over?: Partial<CallerRules>,
) {
  const { problems } = run(callers, over);
  assert.equal(problems.length, 1, JSON.stringify(problems));
  assert.equal(problems[0].field, field);
  if (typeof rule === "string") assert.equal(problems[0].rule, rule);
  else assert.match(problems[0].rule, rule);
}

describe("caller checker", () => {
  it("a valid list: own and federated IDs, a caller with pods; resolves IDs, pods while all known, foreign domains", () => {
    const { checked, problems } = run([{ identity: FRONT, pods }, EAST], { podCallers: true });
    assert.deepEqual(problems, []);
    assert.deepEqual(checked.ids, [FRONT, EAST]);
    assert.equal(checked.pods, undefined, "a SPIFFE ID alone leaves the callers' pods unknown");
    assert.deepEqual(checked.foreignDomains, ["east.example"]);
    assert.deepEqual(run([{ identity: FRONT, pods }], { podCallers: true }).checked.pods, [pods]);
  });

  it("a value that is no caller form: the rule names the forms the component takes", () => {
    rejects([42], "callers[0]", CALLER_ID_FORMS_RULE);
    rejects([42], "callers[0]", CALLER_FORMS_RULE, { podCallers: true });
  });

  it("the { identity, pods } form where only IDs are taken", () => {
    rejects([{ identity: FRONT, pods }], "callers[0]", CALLER_ID_FORMS_RULE);
  });

  it("a string that is not a SPIFFE ID", () => {
    rejects(["front"], "callers[0]", /must start with "spiffe:\/\/"/);
  });

  it("an ID of a trust domain that is not federated", () => {
    rejects(
      ["spiffe://evil.example/front"],
      "callers[0]",
      /not a member of trust domain "west.example".*not federated/,
    );
    rejects([EAST], "callers[0]", /is not federated \(federated: none\)/, { federated: [] });
  });

  it("an ID under /spire (SPIRE's own)", () => {
    rejects([`spiffe://${TD}/spire/agent/x`], "callers[0]", /reserved/);
  });

  it("an invalid own trust domain skips membership but still checks form and repeats", () => {
    assert.deepEqual(run([EAST, "anything"], { trustDomain: undefined }).problems, []);
    rejects([FRONT, FRONT], "callers[1]", CALLER_REPEAT_RULE, { trustDomain: undefined });
  });

  it("a caller listed twice, at its second place", () => {
    rejects([FRONT, EAST, FRONT], "callers[2]", CALLER_REPEAT_RULE);
  });

  it("a caller's identity is checked at its identity field", () => {
    rejects([{ identity: "front", pods }], "callers[0].identity", /must start with/, { podCallers: true });
  });

  it("a caller's pods in a namespace that is not a Kubernetes name", () => {
    const bad = { identity: FRONT, pods: { ...pods, namespace: "Shop_1" } };
    rejects([bad], "callers[0].pods.namespace", CALLER_NAMESPACE_RULE, { podCallers: true });
  });

  it("a caller's pods selected by no label (the whole namespace)", () => {
    const bad = { identity: FRONT, pods: { ...pods, podLabels: {} } };
    rejects([bad], "callers[0].pods.podLabels", CALLER_POD_LABELS_RULE, { podCallers: true });
  });
});
