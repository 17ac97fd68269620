/**
 * authorization-rules on the library's own renders: STRICT Envoy bootstraps with and without authorization,
 * in shadow mode, on tcp, a gateway's, and App Mesh VirtualNodes; only in stacks matching `stacks` (prod*),
 * advisory unless configured mandatory.
 */
import assert from "node:assert/strict";
import { type AuthorizationArgs, AuthorizationMode } from "../../mesh/authorization";
import { DataPlane } from "../../mesh/envoySidecar";
import { type MeshNodeArgs, meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol, TlsMode } from "../../mesh/virtualNode";
import { AUTHORIZATION_RULES } from "../../policy/policies";
import { authorizationRulesPolicy } from "../../policy/rules/authorizationRules";
import { runResourcePolicy, testResource, UNKNOWN } from "../../policy/testing";

const TD = "example.org";
const FRONT = `spiffe://${TD}/front`;
const DESCRIPTION = authorizationRulesPolicy.description;
const RULE =
  "STRICT listeners of HTTP workloads must authorize requests by SPIFFE ID (MeshWorkload authorization)";
const frontMayGet: AuthorizationArgs = { rules: [{ callers: [FRONT], methods: ["GET"] }] };

const plan = (extra: Partial<MeshNodeArgs> = {}) =>
  meshNodePlan({
    name: "blue",
    namespace: "shop",
    podSelector: { app: "blue" },
    trustDomain: TD,
    identity: `spiffe://${TD}/blue`,
    tlsMode: TlsMode.Strict,
    allowedCallers: [FRONT],
    dataPlane: DataPlane.Envoy,
    ...extra,
  });

const configMap = (extra: Partial<MeshNodeArgs> = {}, stack = "prod") => {
  const object = plan(extra).envoy?.configMap as { metadata: { name: string } };
  return {
    name: object.metadata.name,
    resource: testResource("kubernetes:core/v1:ConfigMap", "blue-envoy-bootstrap", object, { stack }),
  };
};

const messages = async (...args: Parameters<typeof runResourcePolicy>) =>
  (await runResourcePolicy(...args)).map((v) => `[${v.level}] ${v.message}`);

const finding = (name: string, missing: string) =>
  `[advisory] ${DESCRIPTION}\nConfigMap shop/${name}: Envoy node blue (data.bootstrap.json), listener ` +
  `lds_ingress_0.0.0.0_15000, filter chain 0 = ${missing}: ${RULE}`;

describe(`policy ${AUTHORIZATION_RULES}`, () => {
  it("passes a STRICT HTTP bootstrap with enforced authorization in prod", async () => {
    const { resource } = configMap({ authorization: frontMayGet });
    assert.deepEqual(await runResourcePolicy(authorizationRulesPolicy, resource), []);
  });

  it("reports a STRICT HTTP bootstrap without authorization in prod, at advisory", async () => {
    const { name, resource } = configMap();
    assert.deepEqual(await messages(authorizationRulesPolicy, resource), [
      finding(name, "no RBAC rules (any allowed caller may send any request)"),
    ]);
  });

  it("reports shadow rules alone: they count, never refuse", async () => {
    const { name, resource } = configMap({
      authorization: { ...frontMayGet, mode: AuthorizationMode.Shadow },
    });
    assert.deepEqual(await messages(authorizationRulesPolicy, resource), [
      finding(name, "shadow RBAC rules only (counted, never refused)"),
    ]);
  });

  it("is mandatory where the pack config says so", async () => {
    const { resource } = configMap();
    const [v] = await runResourcePolicy(authorizationRulesPolicy, resource, {
      enforcementLevel: "mandatory",
    });
    assert.equal(v.level, "mandatory");
  });

  it("applies only in stacks matching `stacks`: nothing in dev, unless configured", async () => {
    assert.deepEqual(await runResourcePolicy(authorizationRulesPolicy, configMap({}, "dev").resource), []);
    const everywhere = await runResourcePolicy(authorizationRulesPolicy, configMap({}, "dev").resource, {
      stacks: ["*"],
    });
    assert.equal(everywhere.length, 1);
  });

  it("does not judge tcp listeners, plaintext or PERMISSIVE ones, or exempt nodes", async () => {
    for (const extra of [
      { protocol: ListenerProtocol.Tcp },
      { tlsMode: undefined, allowedCallers: [] },
      { tlsMode: TlsMode.Permissive, allowedCallers: [] },
    ]) {
      assert.deepEqual(
        await runResourcePolicy(authorizationRulesPolicy, configMap(extra).resource),
        [],
        JSON.stringify(extra),
      );
    }
    assert.deepEqual(
      await runResourcePolicy(authorizationRulesPolicy, configMap().resource, { exempt: ["shop/blue"] }),
      [],
    );
    // The exemption is by the ConfigMap's own namespace: another namespace's entry exempts nothing.
    assert.equal(
      (await runResourcePolicy(authorizationRulesPolicy, configMap().resource, { exempt: ["other/blue"] }))
        .length,
      1,
    );
  });

  it("reports an App Mesh VirtualNode's STRICT HTTP listener, which cannot carry authorization", async () => {
    const node = plan({ dataPlane: DataPlane.AppMesh }).appMesh as object;
    const resource = testResource(
      "kubernetes:appmesh.k8s.aws/v1beta2:VirtualNode",
      "blue-virtual-node",
      node,
      {
        stack: "prod-eu",
      },
    );
    assert.deepEqual(await messages(authorizationRulesPolicy, resource), [
      `[advisory] ${DESCRIPTION}\nVirtualNode shop/blue: spec.listeners[0] = STRICT http on App Mesh, which has no ` +
        `per-route authorization: ${RULE}; use the envoy data plane`,
    ]);
  });

  it("skips a bootstrap unknown at preview", async () => {
    const resource = testResource(
      "kubernetes:core/v1:ConfigMap",
      "blue-envoy-bootstrap",
      { metadata: { name: "blue-envoy", namespace: "shop" }, data: { "bootstrap.json": UNKNOWN } },
      { stack: "prod" },
    );
    assert.deepEqual(await runResourcePolicy(authorizationRulesPolicy, resource), []);
  });

  it("does not judge a gateway's listener, whose routes lead into the mesh over mTLS", async () => {
    const object = JSON.parse(JSON.stringify(plan().envoy?.configMap));
    const bootstrap = JSON.parse(object.data["bootstrap.json"]);
    const ingress = bootstrap.static_resources.listeners[0];
    const route =
      ingress.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route;
    const app = bootstrap.static_resources.clusters.find((c: { name: string }) => c.name === route.cluster);
    app.transport_socket = ingress.filter_chains[0].transport_socket;
    const asGateway = (o: object) =>
      runResourcePolicy(
        authorizationRulesPolicy,
        testResource("kubernetes:core/v1:ConfigMap", "gateway-envoy-bootstrap", o, { stack: "prod" }),
      );
    assert.deepEqual(
      await asGateway({ ...object, data: { "bootstrap.json": JSON.stringify(bootstrap) } }),
      [],
    );
    // The witness: the same bootstrap with its app cluster plaintext again is a workload's, and reported.
    delete app.transport_socket;
    assert.equal(
      (await asGateway({ ...object, data: { "bootstrap.json": JSON.stringify(bootstrap) } })).length,
      1,
    );
  });
});
