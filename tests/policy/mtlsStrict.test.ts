/**
 * mtls-strict-listeners on the library's own renders: Envoy bootstraps from meshNodePlan (STRICT, PERMISSIVE,
 * plaintext) and App Mesh VirtualNodes, mandatory in prod* stacks and advisory elsewhere.
 */
import assert from "node:assert/strict";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";
import { MTLS_STRICT } from "../../policy/policies";
import { mtlsStrictPolicy } from "../../policy/rules/mtlsStrict";
import { runResourcePolicy, testResource, UNKNOWN } from "../../policy/testing";

const TD = "example.org";
const DESCRIPTION = mtlsStrictPolicy.description;
const RULE = "meshed listeners must be STRICT mTLS";

const node = (tlsMode: TlsMode | undefined, dataPlane = DataPlane.Envoy) =>
  meshNodePlan({
    name: "blue",
    namespace: "shop",
    podSelector: { app: "blue" },
    trustDomain: TD,
    identity: `spiffe://${TD}/blue`,
    tlsMode,
    // STRICT restricts its callers; PERMISSIVE cannot take a caller list (its plaintext side checks none).
    allowedCallers: tlsMode === TlsMode.Strict ? [`spiffe://${TD}/front`] : [],
    dataPlane,
  });

/** The bootstrap ConfigMap is named by its content hash; what the messages must name. */
const configMapName = (tlsMode: TlsMode | undefined) => {
  const configMap = node(tlsMode).envoy?.configMap;
  if (!configMap) throw new Error("an envoy node has a bootstrap ConfigMap");
  return configMap.metadata.name;
};

const bootstrap = (tlsMode: TlsMode | undefined, stack = "dev") =>
  testResource(
    "kubernetes:core/v1:ConfigMap",
    "blue-envoy-bootstrap",
    node(tlsMode).envoy?.configMap as object,
    {
      stack,
    },
  );

const virtualNode = (tlsMode: TlsMode | undefined, stack = "dev") =>
  testResource(
    "kubernetes:appmesh.k8s.aws/v1beta2:VirtualNode",
    "blue-virtual-node",
    node(tlsMode, DataPlane.AppMesh).appMesh as object,
    { stack },
  );

const messages = async (...args: Parameters<typeof runResourcePolicy>) =>
  (await runResourcePolicy(...args)).map((v) => `[${v.level}] ${v.message}`);

describe(`policy ${MTLS_STRICT}`, () => {
  it("passes a STRICT Envoy bootstrap and a STRICT VirtualNode", async () => {
    assert.deepEqual(await runResourcePolicy(mtlsStrictPolicy, bootstrap(TlsMode.Strict, "prod")), []);
    assert.deepEqual(await runResourcePolicy(mtlsStrictPolicy, virtualNode(TlsMode.Strict, "prod")), []);
  });

  it("fails a PERMISSIVE Envoy bootstrap in a prod stack (tls_inspector plus a raw_buffer chain)", async () => {
    assert.deepEqual(await messages(mtlsStrictPolicy, bootstrap(TlsMode.Permissive, "prod-eu")), [
      `[mandatory] ${DESCRIPTION}\nConfigMap shop/${configMapName(TlsMode.Permissive)}: Envoy node blue (data.bootstrap.json), listener ` +
        `lds_ingress_0.0.0.0_15000 = PERMISSIVE (a plaintext raw_buffer filter chain next to the TLS one): ${RULE}`,
    ]);
  });

  it("reports the same at advisory in stacks that do not match mandatoryStacks", async () => {
    assert.deepEqual(await messages(mtlsStrictPolicy, bootstrap(TlsMode.Permissive, "dev")), [
      `[advisory] ${DESCRIPTION}\nConfigMap shop/${configMapName(TlsMode.Permissive)}: Envoy node blue (data.bootstrap.json), listener ` +
        `lds_ingress_0.0.0.0_15000 = PERMISSIVE (a plaintext raw_buffer filter chain next to the TLS one): ${RULE}`,
    ]);
    const everywhere = { mandatoryStacks: ["*"] };
    assert.equal(
      (await runResourcePolicy(mtlsStrictPolicy, bootstrap(undefined), everywhere))[0].level,
      "mandatory",
    );
  });

  it("fails a plaintext Envoy ingress listener unless the node is listed in plaintextIngress", async () => {
    const plaintext = [
      `[mandatory] ${DESCRIPTION}\nConfigMap shop/${configMapName(undefined)}: Envoy node blue (data.bootstrap.json), listener ` +
        `lds_ingress_0.0.0.0_15000 = plaintext (no TLS transport socket): ${RULE}`,
    ];
    assert.deepEqual(await messages(mtlsStrictPolicy, bootstrap(undefined, "prod")), plaintext);
    assert.deepEqual(
      await runResourcePolicy(mtlsStrictPolicy, bootstrap(undefined, "prod"), {
        plaintextIngress: ["shop/blue"],
      }),
      [],
    );
    // A bare name, a node id or another namespace's entry exempts nothing (the schema refuses the first two).
    for (const entry of ["blue", "blue.shop", "edge/blue"]) {
      assert.deepEqual(
        await messages(mtlsStrictPolicy, bootstrap(undefined, "prod"), { plaintextIngress: [entry] }),
        plaintext,
        entry,
      );
    }
  });

  it("takes the exemption's namespace from the ConfigMap, not from the node id the bootstrap declares", async () => {
    const cm = node(undefined).envoy?.configMap as unknown as { data: Record<string, string> };
    const boot = JSON.parse(cm.data["bootstrap.json"]);
    // A bootstrap in namespace evil that calls itself the exempt shop/blue.
    boot.node.id = "blue.shop";
    const spoof = testResource(
      "kubernetes:core/v1:ConfigMap",
      "spoof",
      { metadata: { name: "spoof", namespace: "evil" }, data: { "bootstrap.json": JSON.stringify(boot) } },
      { stack: "prod" },
    );
    assert.deepEqual(
      (await messages(mtlsStrictPolicy, spoof, { plaintextIngress: ["shop/blue"] })).map(
        (m) => m.split("\n")[1],
      ),
      [
        `ConfigMap evil/spoof: Envoy node blue (data.bootstrap.json), listener lds_ingress_0.0.0.0_15000 = plaintext (no TLS transport socket): ${RULE}`,
      ],
    );
  });

  it("fails TLS that does not require a client certificate", async () => {
    const cm = node(TlsMode.Strict).envoy?.configMap as unknown as { data: Record<string, string> };
    const boot = JSON.parse(cm.data["bootstrap.json"]);
    boot.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.require_client_certificate = false;
    const resource = testResource(
      "kubernetes:core/v1:ConfigMap",
      "renamed-by-hash-3f2a",
      {
        ...cm,
        metadata: { name: "blue-envoy-3f2a", namespace: "shop" },
        data: { "envoy.json": JSON.stringify(boot) },
      },
      { stack: "prod" },
    );
    assert.deepEqual(await messages(mtlsStrictPolicy, resource), [
      `[mandatory] ${DESCRIPTION}\nConfigMap shop/blue-envoy-3f2a: Envoy node blue (data.envoy.json), listener ` +
        `lds_ingress_0.0.0.0_15000 = TLS without a required client certificate: ${RULE}`,
    ]);
  });

  it("leaves ConfigMaps that hold no Envoy bootstrap alone, and egress and readiness listeners too", async () => {
    const other = testResource(
      "kubernetes:core/v1:ConfigMap",
      "code",
      { metadata: { name: "code" }, data: { "app.js": "console.log(1)", "x.json": '{"listeners":[]}' } },
      { stack: "prod" },
    );
    assert.deepEqual(await runResourcePolicy(mtlsStrictPolicy, other), []);
  });

  it("checks every Envoy listener not bound to loopback whatever its name; a probe listener only if it serves /ready from the admin", async () => {
    const cm = node(TlsMode.Strict).envoy?.configMap as unknown as { data: Record<string, string> };
    const strict = JSON.parse(cm.data["bootstrap.json"]);
    const listeners = strict.static_resources.listeners;
    const readiness = listeners.find((l: { name: string }) => l.name.startsWith("lds_readiness_"));
    assert.ok(readiness, "the STRICT render has a plaintext readiness listener, which passes above");
    const asConfigMap = (boot: object) =>
      testResource(
        "kubernetes:core/v1:ConfigMap",
        "blue-envoy",
        {
          metadata: { name: "blue-envoy", namespace: "shop" },
          data: { "bootstrap.json": JSON.stringify(boot) },
        },
        { stack: "prod" },
      );
    const found = async (boot: object) =>
      (await messages(mtlsStrictPolicy, asConfigMap(boot))).map((m) => m.split("\n")[1]);
    // The plaintext ingress chain under another name, on all addresses.
    const unencrypted = node(undefined).envoy?.configMap as unknown as { data: Record<string, string> };
    const plaintext = JSON.parse(unencrypted.data["bootstrap.json"]).static_resources.listeners.find(
      (l: { name: string }) => l.name.startsWith("lds_ingress_"),
    );
    const renamed = { ...plaintext, name: "app_http" };
    assert.deepEqual(
      await found({
        ...strict,
        static_resources: { ...strict.static_resources, listeners: [...listeners, renamed] },
      }),
      [
        `ConfigMap shop/blue-envoy: Envoy node blue (data.bootstrap.json), listener app_http = plaintext (no TLS transport socket): ${RULE}`,
      ],
    );
    // The same on loopback is the pod's own business (the app's egress listeners are there).
    const loopback = { ...renamed, address: { socket_address: { address: "127.0.0.9", port_value: 9000 } } };
    assert.deepEqual(
      await found({
        ...strict,
        static_resources: { ...strict.static_resources, listeners: [...listeners, loopback] },
      }),
      [],
    );
    // A "readiness" listener that also serves anything but the admin's /ready is plaintext ingress.
    const adminCluster =
      readiness.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route
        .cluster;
    const others = listeners.filter((l: object) => l !== readiness);
    for (const extra of [
      { match: { prefix: "/" }, route: { cluster: adminCluster } },
      { match: { path: "/ready" }, route: { cluster: "blue_app" } },
    ]) {
      const widened = JSON.parse(JSON.stringify(readiness));
      widened.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes.push(extra);
      assert.deepEqual(
        await found({
          ...strict,
          static_resources: { ...strict.static_resources, listeners: [...others, widened] },
        }),
        [
          `ConfigMap shop/blue-envoy: Envoy node blue (data.bootstrap.json), listener ${readiness.name} = plaintext (no TLS transport socket): ${RULE}`,
        ],
        JSON.stringify(extra),
      );
    }
  });

  it("fails App Mesh listeners that are PERMISSIVE, plaintext, or STRICT without validation", async () => {
    assert.deepEqual(await messages(mtlsStrictPolicy, virtualNode(TlsMode.Permissive, "prod")), [
      `[mandatory] ${DESCRIPTION}\nVirtualNode shop/blue: spec.listeners[0].tls.mode = "PERMISSIVE": ${RULE}`,
    ]);
    assert.deepEqual(await messages(mtlsStrictPolicy, virtualNode(undefined, "prod")), [
      `[mandatory] ${DESCRIPTION}\nVirtualNode shop/blue: spec.listeners[0].tls = (missing, plaintext): ${RULE}`,
    ]);
    const gateway = testResource(
      "kubernetes:appmesh.k8s.aws/v1beta2:VirtualGateway",
      "ingress",
      {
        metadata: { name: "ingress", namespace: "shop" },
        spec: { listeners: [{ portMapping: { port: 8443, protocol: "http" }, tls: { mode: "STRICT" } }] },
      },
      { stack: "prod" },
    );
    assert.deepEqual(await messages(mtlsStrictPolicy, gateway), [
      `[mandatory] ${DESCRIPTION}\nVirtualGateway shop/ingress: spec.listeners[0].tls.validation = (missing): ` +
        `${RULE}; STRICT without validation asks callers for no certificate`,
    ]);
  });

  it("skips a value unknown during preview instead of giving up on the resource", async () => {
    const unknownMode = virtualNode(TlsMode.Strict, "prod");
    (unknownMode.props.spec.listeners[0].tls as { mode: string }).mode = UNKNOWN;
    assert.deepEqual(await runResourcePolicy(mtlsStrictPolicy, unknownMode), []);
    const unknownData = testResource(
      "kubernetes:core/v1:ConfigMap",
      "late",
      { metadata: { name: "late", namespace: "shop" }, data: { "bootstrap.json": UNKNOWN } },
      { stack: "prod" },
    );
    assert.deepEqual(await runResourcePolicy(mtlsStrictPolicy, unknownData), []);
  });

  it("is skipped when disabled through config", async () => {
    const config = { enforcementLevel: "disabled" as const };
    assert.deepEqual(
      await runResourcePolicy(mtlsStrictPolicy, bootstrap(TlsMode.Permissive, "prod"), config),
      [],
    );
  });
});
