/**
 * The App Mesh objects of the dev render against the v1beta2 CRD schema, and the schema check itself: each kind
 * of mistake it exists to catch is rejected with the path of the offending field.
 */
import assert from "node:assert/strict";
import { DataPlane } from "../../mesh/envoySidecar";
import type { GatewayListenerArgs } from "../../mesh/gatewayListener";
import { gatewayPlan } from "../../mesh/gatewayObjects";
import { appMeshVirtualNode, TlsMode, virtualNodeSpec } from "../../mesh/virtualNode";
import type { K8sObject } from "../../spire/k8s";
import { isAppMeshObject, validateAppMeshObjects } from "../support/appmeshSchema";
import { appMesh, findObject, type KubeObject, kubernetesObjects, renderStack } from "../support/render";

const NS = "howto-k8s-mtls-sds-based";

/** The dev stack on appmesh with its ingress gateway. */
const withGateway = { ...appMesh, gateway: "true" };

/** A mutable copy of one rendered object, so a test can break it without touching the cached render. */
async function copyOf(kind: string, name: string): Promise<KubeObject> {
  const r = await renderStack("dev", withGateway);
  return structuredClone(findObject(r, kind, name, kind === "Mesh" ? undefined : NS));
}

/** The problem lines of the one Error the validator throws (the first line is the count). */
function problemsOf(objects: readonly K8sObject[]): string[] {
  try {
    validateAppMeshObjects(objects);
  } catch (error) {
    assert.ok(error instanceof Error);
    const [summary, ...problems] = error.message.split("\n").map((line) => line.trim());
    assert.equal(summary, `${problems.length} App Mesh schema problem(s):`);
    return problems;
  }
  assert.fail("expected the objects to be rejected");
}

describe("App Mesh v1beta2 schema", () => {
  describe("the dev render", () => {
    it("renders the walkthrough's seven App Mesh objects (fact sheet 3.2)", async () => {
      const r = await renderStack("dev", appMesh);
      const names = kubernetesObjects(r)
        .filter(isAppMeshObject)
        .map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? "-"}/${o.metadata.name}`)
        .sort();
      assert.deepEqual(names, [
        "appmesh.k8s.aws/v1beta2 Mesh -/howto-k8s-mtls-sds-based",
        "appmesh.k8s.aws/v1beta2 VirtualNode howto-k8s-mtls-sds-based/blue",
        "appmesh.k8s.aws/v1beta2 VirtualNode howto-k8s-mtls-sds-based/front",
        "appmesh.k8s.aws/v1beta2 VirtualNode howto-k8s-mtls-sds-based/green",
        "appmesh.k8s.aws/v1beta2 VirtualNode howto-k8s-mtls-sds-based/red",
        "appmesh.k8s.aws/v1beta2 VirtualRouter howto-k8s-mtls-sds-based/color",
        "appmesh.k8s.aws/v1beta2 VirtualService howto-k8s-mtls-sds-based/color",
      ]);
    });

    it("every App Mesh object passes, with or without green registered", async () => {
      for (const overrides of [{}, { registerGreen: "true" }] as Record<string, string>[]) {
        const objects = kubernetesObjects(await renderStack("dev", { ...appMesh, ...overrides })).filter(
          isAppMeshObject,
        );
        assert.equal(objects.length, 7);
        validateAppMeshObjects(objects);
      }
    });

    it("gateway=true adds exactly a VirtualGateway and its GatewayRoute, both valid", async () => {
      const objects = kubernetesObjects(await renderStack("dev", withGateway)).filter(isAppMeshObject);
      const without = kubernetesObjects(await renderStack("dev", appMesh)).filter(isAppMeshObject);
      const label = (o: KubeObject) => `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`;
      assert.deepEqual(
        objects.map(label).filter((l) => !without.map(label).includes(l)),
        [`VirtualGateway ${NS}/gateway`, `GatewayRoute ${NS}/gateway-color`],
      );
      validateAppMeshObjects(objects);
    });

    it("ignores objects outside appmesh.k8s.aws, even broken ones", async () => {
      const objects = kubernetesObjects(await renderStack("dev", appMesh));
      assert.ok(objects.some((o) => !isAppMeshObject(o)));
      validateAppMeshObjects(objects);
      validateAppMeshObjects([
        { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, bogus: 1 },
      ]);
    });
  });

  describe("rejects, naming the path", () => {
    it("a listener tls mode outside DISABLED|PERMISSIVE|STRICT", async () => {
      const blue = await copyOf("VirtualNode", "blue");
      blue.spec.listeners[0].tls.mode = "STRICTEST";
      assert.deepEqual(problemsOf([blue]), [
        "VirtualNode/blue: /spec/listeners/0/tls/mode must be equal to one of the allowed values (DISABLED, PERMISSIVE, STRICT)",
      ]);
    });

    it("a listener protocol outside grpc|http|http2|tcp", async () => {
      const red = await copyOf("VirtualNode", "red");
      red.spec.listeners[0].portMapping.protocol = "https";
      assert.deepEqual(problemsOf([red]), [
        "VirtualNode/red: /spec/listeners/0/portMapping/protocol must be equal to one of the allowed values (grpc, http, http2, tcp)",
      ]);
    });

    it("a listener without portMapping", async () => {
      const front = await copyOf("VirtualNode", "front");
      delete front.spec.listeners[0].portMapping;
      assert.deepEqual(problemsOf([front]), [
        "VirtualNode/front: /spec/listeners/0 must have required property 'portMapping'",
      ]);
    });

    it("listener tls without certificate", async () => {
      const green = await copyOf("VirtualNode", "green");
      delete green.spec.listeners[0].tls.certificate;
      assert.deepEqual(problemsOf([green]), [
        "VirtualNode/green: /spec/listeners/0/tls must have required property 'certificate'",
      ]);
    });

    it("validation without trust, on the listener and on the client policy", async () => {
      const blue = await copyOf("VirtualNode", "blue");
      delete blue.spec.listeners[0].tls.validation.trust;
      const front = await copyOf("VirtualNode", "front");
      delete front.spec.backendDefaults.clientPolicy.tls.validation.trust;
      assert.deepEqual(problemsOf([blue, front]), [
        "VirtualNode/blue: /spec/listeners/0/tls/validation must have required property 'trust'",
        "VirtualNode/front: /spec/backendDefaults/clientPolicy/tls/validation must have required property 'trust'",
      ]);
    });

    it("serviceDiscovery.dns without hostname", async () => {
      const red = await copyOf("VirtualNode", "red");
      delete red.spec.serviceDiscovery.dns.hostname;
      assert.deepEqual(problemsOf([red]), [
        "VirtualNode/red: /spec/serviceDiscovery/dns must have required property 'hostname'",
      ]);
    });

    it("health check healthyThreshold 1 and intervalMillis 1000 (below 2 and 5000)", async () => {
      const front = await copyOf("VirtualNode", "front");
      front.spec.listeners[0].healthCheck.healthyThreshold = 1;
      front.spec.listeners[0].healthCheck.intervalMillis = 1000;
      assert.deepEqual(problemsOf([front]), [
        "VirtualNode/front: /spec/listeners/0/healthCheck/healthyThreshold must be >= 2",
        "VirtualNode/front: /spec/listeners/0/healthCheck/intervalMillis must be >= 5000",
      ]);
    });

    it("route priority 1001 (above 1000)", async () => {
      const router = await copyOf("VirtualRouter", "color");
      router.spec.routes[2].priority = 1001;
      assert.deepEqual(problemsOf([router]), [
        "VirtualRouter/color: /spec/routes/2/priority must be <= 1000",
      ]);
    });

    it("port 0, on a node listener and on the router listener", async () => {
      const blue = await copyOf("VirtualNode", "blue");
      blue.spec.listeners[0].portMapping.port = 0;
      const router = await copyOf("VirtualRouter", "color");
      router.spec.listeners[0].portMapping.port = 0;
      assert.deepEqual(problemsOf([blue, router]), [
        "VirtualNode/blue: /spec/listeners/0/portMapping/port must be >= 1",
        "VirtualRouter/color: /spec/listeners/0/portMapping/port must be >= 1",
      ]);
    });

    it("the walkthrough's `mode: STRICT` under backendDefaults.clientPolicy.tls: not a CRD field", async () => {
      // Fact sheet 3.2 and 8.6: ClientPolicyTLS has enforce, ports, certificate and validation, no mode.
      const front = await copyOf("VirtualNode", "front");
      front.spec.backendDefaults.clientPolicy.tls.mode = "STRICT";
      assert.deepEqual(problemsOf([front]), [
        "VirtualNode/front: /spec/backendDefaults/clientPolicy/tls/mode is not a field of the v1beta2 schema (must NOT have additional properties)",
      ]);
    });

    it("router limits: header name over 50 characters, 11 headers, weight 101, no listeners", async () => {
      const router = await copyOf("VirtualRouter", "color");
      const [blueRoute, greenRoute] = router.spec.routes;
      blueRoute.httpRoute.match.headers[0].name = "h".repeat(51);
      greenRoute.httpRoute.match.headers = Array.from({ length: 11 }, (_, i) => ({
        name: `header-${i}`,
        match: { exact: "green" },
      }));
      router.spec.routes[2].httpRoute.action.weightedTargets[0].weight = 101;
      router.spec.listeners = [];
      assert.deepEqual(problemsOf([router]), [
        "VirtualRouter/color: /spec/listeners must NOT have fewer than 1 items",
        "VirtualRouter/color: /spec/routes/0/httpRoute/match/headers/0/name must NOT have more than 50 characters",
        "VirtualRouter/color: /spec/routes/1/httpRoute/match/headers must NOT have more than 10 items",
        "VirtualRouter/color: /spec/routes/2/httpRoute/action/weightedTargets/0/weight must be <= 100",
      ]);
    });

    it("a namespaced kind without namespace, and a namespace on the cluster-scoped Mesh", async () => {
      const service = await copyOf("VirtualService", "color");
      delete service.metadata.namespace;
      const mesh = await copyOf("Mesh", "howto-k8s-mtls-sds-based");
      mesh.metadata.namespace = NS;
      assert.deepEqual(problemsOf([service, mesh]), [
        "VirtualService/color: /metadata must have required property 'namespace'",
        "Mesh/howto-k8s-mtls-sds-based: /metadata/namespace must be absent",
      ]);
    });

    it("a wrong apiVersion and a kind we have no schema for", async () => {
      const mesh = await copyOf("Mesh", "howto-k8s-mtls-sds-based");
      mesh.apiVersion = "appmesh.k8s.aws/v1beta1";
      const backendGroup = {
        apiVersion: "appmesh.k8s.aws/v1beta2",
        kind: "BackendGroup",
        metadata: { name: "g" },
      };
      assert.deepEqual(problemsOf([mesh, backendGroup]), [
        'Mesh/howto-k8s-mtls-sds-based: /apiVersion must be equal to constant ("appmesh.k8s.aws/v1beta2")',
        "BackendGroup/g: /kind must be equal to one of the allowed values (Mesh, VirtualNode, VirtualRouter, VirtualService, VirtualGateway, GatewayRoute)",
      ]);
    });

    it("a VirtualGateway listener on tcp (its CRD takes grpc, http, http2) and a tls mode it lacks", async () => {
      const gateway = await copyOf("VirtualGateway", "gateway");
      gateway.spec.listeners[0].portMapping.protocol = "tcp";
      gateway.spec.listeners[0].tls = { mode: "MUTUAL", certificate: { sds: { secretName: "x" } } };
      assert.deepEqual(problemsOf([gateway]), [
        "VirtualGateway/gateway: /spec/listeners/0/portMapping/protocol must be equal to one of the allowed values (grpc, http, http2)",
        "VirtualGateway/gateway: /spec/listeners/0/tls/mode must be equal to one of the allowed values (DISABLED, PERMISSIVE, STRICT)",
      ]);
    });

    it("the walkthrough's `mode: STRICT` slip on a VirtualGateway's client policy, and that policy without validation", async () => {
      const gateway = await copyOf("VirtualGateway", "gateway");
      const tls = gateway.spec.backendDefaults.clientPolicy.tls;
      tls.mode = "STRICT";
      delete tls.validation;
      assert.deepEqual(problemsOf([gateway]), [
        "VirtualGateway/gateway: /spec/backendDefaults/clientPolicy/tls must have required property 'validation'",
        "VirtualGateway/gateway: /spec/backendDefaults/clientPolicy/tls/mode is not a field of the v1beta2 schema (must NOT have additional properties)",
      ]);
    });

    it("a GatewayRoute with priority 1001, a header name over 50 characters, no target and a made-up field", async () => {
      const route = await copyOf("GatewayRoute", "gateway-color");
      route.spec.priority = 1001;
      route.spec.httpRoute.match.headers = [{ name: "h".repeat(51), match: { exact: "blue" } }];
      delete route.spec.httpRoute.action.target;
      route.spec.httpRoute.match.virtualGateway = "gateway";
      assert.deepEqual(problemsOf([route]), [
        "GatewayRoute/gateway-color: /spec/httpRoute/action must have required property 'target'",
        "GatewayRoute/gateway-color: /spec/httpRoute/match/virtualGateway is not a field of the v1beta2 schema (must NOT have additional properties)",
        "GatewayRoute/gateway-color: /spec/httpRoute/match/headers/0/name must NOT have more than 50 characters",
        "GatewayRoute/gateway-color: /spec/priority must be <= 1000",
      ]);
    });
  });

  describe("virtual nodes the builder accepts render valid objects", () => {
    const base = {
      name: "blue",
      namespace: NS,
      podSelector: { app: "color", version: "blue" },
      trustDomain: "howto-k8s-mtls-sds-based.aws",
    };

    it("each listener TLS mode, with and without an identity where the builder allows it", () => {
      const identity = "spiffe://howto-k8s-mtls-sds-based.aws/colorblue";
      const cases = [
        {
          tlsMode: TlsMode.Strict,
          identity,
          allowedCallers: ["spiffe://howto-k8s-mtls-sds-based.aws/front"],
        },
        { tlsMode: TlsMode.Permissive, identity },
        { tlsMode: TlsMode.Disabled, identity },
        // The builder accepts DISABLED without an identity; the CRD requires a certificate on any listener tls.
        { tlsMode: TlsMode.Disabled },
        {},
      ];
      for (const extra of cases) {
        validateAppMeshObjects([appMeshVirtualNode(virtualNodeSpec({ ...base, ...extra }))]);
      }
    });
  });

  describe("gateways the builder accepts render valid objects", () => {
    const target = {
      name: "blue",
      namespace: NS,
      podSelector: { app: "color", version: "blue" },
      trustDomain: "howto-k8s-mtls-sds-based.aws",
      identity: "spiffe://howto-k8s-mtls-sds-based.aws/colorblue",
    };
    const gateway = (listener: GatewayListenerArgs, header?: { name: string; value: string }) =>
      gatewayPlan({
        name: "edge",
        namespace: NS,
        trustDomain: "howto-k8s-mtls-sds-based.aws",
        identity: "spiffe://howto-k8s-mtls-sds-based.aws/edge",
        listener,
        backends: [
          {
            virtualService: "color-blue",
            hostname: `color-blue.${NS}.svc`,
            routes: [{ name: "all", target }],
          },
        ],
        routes: [{ prefix: "/blue", virtualService: "color-blue", ...(header ? { header } : {}) }],
        dataPlane: DataPlane.AppMesh,
      }).objects;

    it("STRICT for mesh callers or with an edge certificate, PERMISSIVE, plaintext; a route with a header", () => {
      const cases: [GatewayListenerArgs, { name: string; value: string }?][] = [
        [{ tlsMode: TlsMode.Strict, callers: ["spiffe://howto-k8s-mtls-sds-based.aws/front"] }],
        [
          { tlsMode: TlsMode.Strict, edgeTlsSecret: "edge-tls" },
          { name: "x-canary", value: "1" },
        ],
        [{ tlsMode: TlsMode.Permissive, port: 443 }],
        [{}],
      ];
      for (const [listener, header] of cases) {
        const o = gateway(listener, header);
        validateAppMeshObjects([o.virtualGateway as K8sObject, ...o.gatewayRoutes]);
      }
    });
  });
});
