/**
 * planMeshWorkload, MeshWorkload's builder, from plain arguments and without Pulumi: what it resolves of the
 * graph (callers, backends, federated domains, names), and that each rule is checked once, here, with the
 * node's and the entry's plans built from what it checked instead of checking again.
 */
import assert from "node:assert/strict";
import { Checker, ValidationError } from "../../core/validation";
import {
  CALLER_FORMS_RULE,
  CALLERS_PERMISSIVE_RULE,
  checkListenerCallers,
  strictNeedsCallersRule,
} from "../../mesh/callers";
import { type MeshWorkloadPlanArgs, notFederatedRule, planMeshWorkload } from "../../mesh/meshWorkloadPlan";
import { nameTakenRule } from "../../mesh/nameClaims";
import { TlsMode } from "../../mesh/virtualNode";
import { notAdmittedRule, ROUTE_TARGET_RULE, WorkloadNode } from "../../mesh/workloadGraph";
import { spireSettings } from "../../spire/settings";

const TD = "west.example";
const settings = spireSettings({
  trustDomain: TD,
  federation: {
    federatesWith: [
      {
        trustDomain: "east.example",
        bundleEndpointUrl: "https://east.example.net:8443",
        endpointSpiffeId: "spiffe://east.example/spire/server",
      },
    ],
  },
});
const id = (sa: string) => `spiffe://${TD}/ns/shop/sa/${sa}`;
const EAST_WEB = "spiffe://east.example/ns/shop/sa/web";
const ALIAS = `spiffe://${TD}/spire/agent/alias`;

/** A planned workload `name` in shop, admitting `callers`. */
const node = (name: string, callers: readonly string[]) =>
  new WorkloadNode(id(name), callers, {
    name,
    namespace: "shop",
    podSelector: { app: name },
    trustDomain: TD,
    identity: id(name),
    port: 8080,
    hostname: `${name}.shop.svc.cluster.local`,
  });

const args = (over: Partial<MeshWorkloadPlanArgs> = {}): MeshWorkloadPlanArgs => ({
  subject: "MeshWorkload api",
  name: "api",
  namespace: "shop",
  containers: [{ name: "api", image: "registry.example/api:1" }],
  settings,
  agentAliasId: ALIAS,
  takenNames: new Map(),
  project: "spire-mesh",
  stack: "test",
  ...over,
});

/** The problems planning fails with. */
function problemsOf(over: Partial<MeshWorkloadPlanArgs>) {
  try {
    planMeshWorkload(args(over));
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.problems.map((p) => [p.field, p.rule]);
  }
  assert.fail("planning did not fail");
}

describe("planMeshWorkload (MeshWorkload's builder, pure)", () => {
  it("resolves the graph: callers' IDs and pods, servers behind backends, foreign domains, the entry", () => {
    const db = node("db", [id("api")]);
    const plan = planMeshWorkload(
      args({
        callers: [
          node("front", []),
          { identity: id("batch"), pods: { namespace: "jobs", podLabels: { a: "b" } } },
        ],
        backends: [db, { identity: EAST_WEB, hostname: "web.east.example.net", port: 9090 }],
      }),
    );
    assert.equal(plan.identity, id("api"));
    assert.deepEqual(plan.allowedCallers, [id("front"), id("batch")]);
    assert.deepEqual(plan.allowedServers, [id("db"), EAST_WEB]);
    assert.equal(plan.node.args.tlsMode, TlsMode.Strict, "callers make the listener STRICT");
    assert.deepEqual(plan.traffic, {
      callers: [
        { namespace: "shop", podLabels: { app: "front" } },
        { namespace: "jobs", podLabels: { a: "b" } },
      ],
      backends: [{ pods: { namespace: "shop", podLabels: { app: "db" } }, port: 8080 }, { port: 9090 }],
    });
    // The remote backend's trust domain joins the node's and the entry's federation.
    assert.deepEqual(plan.node.plan.spec.federatesWith, ["east.example"]);
    assert.deepEqual(plan.entry.federatesWith, ["east.example"]);
    assert.equal(plan.entry.parentId, ALIAS);
    assert.equal(plan.resolvedEntry.entry.entryId, "spire-mesh.test.api");
    assert.deepEqual(plan.names, {
      name: "Deployment shop/api",
      serviceName: "Service shop/api",
      entryName: "entry api",
    });
    assert.deepEqual(plan.graphNode.allowedCallers, plan.allowedCallers);
  });

  it("hands the node the callers it checked, not a list the node checked again", () => {
    const plan = planMeshWorkload(args({ callers: [id("front")] }));
    // The very array the builder's check produced: a node that re-checked would hold a new one.
    assert.equal(plan.node.plan.spec.allowedCallers, plan.allowedCallers);
  });

  it("reports every graph problem at once, each under MeshWorkload's own field, once", () => {
    const mute = node("mute", []);
    const problems = problemsOf({
      federatesWith: ["north.example"],
      callers: [42, id("front"), id("front")],
      backends: [mute, { virtualService: "color", routes: [{ name: "r", target: "not a workload" }] }],
      takenNames: new Map([["Service shop/api", "MeshWorkload other"]]),
    });
    assert.deepEqual(problems, [
      ["federatesWith[0]", notFederatedRule(["east.example"])],
      ["callers[0]", CALLER_FORMS_RULE],
      ["callers[2]", "repeats a caller"],
      ["backends[0]", notAdmittedRule(id("api"))],
      ["backends[1].routes[0].target", ROUTE_TARGET_RULE],
      ["serviceName", nameTakenRule("MeshWorkload other")],
    ]);
  });

  it("checks the listener's TLS against its callers once, with the node's rule text", () => {
    assert.deepEqual(problemsOf({ tlsMode: TlsMode.Permissive, callers: [id("front")] }), [
      ["allowedCallers", CALLERS_PERMISSIVE_RULE],
    ]);
  });
});

describe("checkListenerCallers (one rule per TLS mode, for nodes and gateways)", () => {
  const run = (mode: TlsMode | undefined, callers: readonly string[], alternative?: string) => {
    const c = new Checker("test");
    checkListenerCallers(c, "callers", mode, callers, alternative);
    try {
      c.done();
      return [];
    } catch (e) {
      return (e as ValidationError).problems.map((p) => p.rule);
    }
  };
  it("STRICT needs callers, naming the gateway's alternative where it has one", () => {
    assert.deepEqual(run(TlsMode.Strict, []), [strictNeedsCallersRule()]);
    assert.match(run(TlsMode.Strict, [], "edgeTlsSecret")[0], /\(or edgeTlsSecret\)$/);
    assert.deepEqual(run(TlsMode.Strict, [id("front")]), []);
  });
  it("PERMISSIVE, DISABLED and no TLS take no callers; none of them is a problem without callers", () => {
    for (const mode of [TlsMode.Permissive, TlsMode.Disabled, undefined]) {
      assert.equal(run(mode, [id("front")]).length, 1, String(mode));
      assert.deepEqual(run(mode, []), [], String(mode));
    }
  });
});
