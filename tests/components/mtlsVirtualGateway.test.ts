/**
 * MtlsVirtualGateway keeps the gateway's pieces consistent on both data planes: the entry's selectors are read
 * back from the Deployment it registered, its targets must admit its identity, what it outputs is what the policy
 * pack reads, and each bad input of issue 13 fails before anything of the gateway is registered, naming field,
 * value and rule.
 */
import assert from "node:assert/strict";
import {
  DataPlane,
  MeshWorkload,
  type MeshWorkloadArgs,
  MtlsVirtualGateway,
  type MtlsVirtualGatewayArgs,
  ServiceType,
  type SpireInstallation,
  TlsMode,
} from "../../components";
import { ValidationError } from "../../core/validation";
import { isKubernetesObject, kubernetesObject } from "../../render/write";
import type { K8sObject } from "../../spire/k8s";
import { validateAppMeshObjects } from "../support/appmeshSchema";
import { validateKubernetesObjects } from "../support/kubernetesSchema";
import { construct, outsideInstallation, walkthroughInstallation } from "../support/mocks";
import { baseName, type KubeObject } from "../support/render";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const EDGE = `${TD}/ns/shop/sa/edge`;

const workload = (installation: SpireInstallation, name: string, args: Partial<MeshWorkloadArgs> = {}) =>
  new MeshWorkload(name, {
    namespace: "shop",
    installation,
    containers: [{ name: "app", image: "node:20-alpine" }],
    ...args,
  });

/** A ledger workload that admits the edge gateway, and the gateway routing /ledger to it. */
function edgeGateway(
  installation: SpireInstallation,
  args: Partial<MtlsVirtualGatewayArgs> = {},
  name = "edge",
) {
  const ledger = workload(installation, "ledger", {
    callers: [MtlsVirtualGateway.identityOf(installation, { name: "edge", namespace: "shop" })],
    dataPlane: args.dataPlane,
  });
  return new MtlsVirtualGateway(name, {
    namespace: "shop",
    installation,
    backends: [ledger],
    routes: [{ prefix: "/ledger", virtualService: "ledger" }],
    ...args,
  });
}

async function build(make: (installation: SpireInstallation) => MtlsVirtualGateway) {
  const recording = await construct(() => make(walkthroughInstallation()));
  assert.ok(recording.value instanceof MtlsVirtualGateway, String(recording.value));
  const objects = outsideInstallation(recording.resources)
    .filter((r) => isKubernetesObject(r) && r.parent?.includes("MtlsVirtualGateway"))
    .map((r) => kubernetesObject(r) as KubeObject);
  const find = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    assert.equal(found.length, 1, kind);
    return found[0];
  };
  return { gateway: recording.value, objects, find };
}

/** The one problem `make` must fail with, and proof that nothing named `bad…` was registered. */
async function problemOf(make: (installation: SpireInstallation) => unknown) {
  const { value, resources } = await construct(() => make(walkthroughInstallation()));
  assert.ok(value instanceof ValidationError, `expected a ValidationError, got ${String(value)}`);
  const registered = outsideInstallation(resources).filter((r) => r.name.startsWith("bad"));
  assert.deepEqual(registered, [], "nothing of the bad gateway may be registered");
  assert.equal(value.problems.length, 1, value.message);
  const [problem] = value.problems;
  // What a user reads: one line naming the field, showing the value and stating the rule.
  const line = `  - ${problem.field} = ${JSON.stringify(problem.value)}: ${problem.rule}`;
  assert.ok(value.message.includes(line), value.message);
  return problem;
}

const output = <T>(o: { apply: (f: (v: T) => void) => unknown }) =>
  new Promise<T>((resolve) => o.apply((v) => resolve(v)));

describe("MtlsVirtualGateway", () => {
  describe("on the envoy data plane", () => {
    it("registers an entry whose selectors are exactly what its Deployment deploys: Envoy alone, named envoy", async () => {
      const { gateway, find } = await build((i) => edgeGateway(i));
      const pod = find("Deployment").spec.template;
      assert.deepEqual(
        pod.spec.containers.map((c: { name: string }) => c.name),
        ["envoy"],
      );
      assert.equal(pod.spec.initContainers, undefined, "not a sidecar: the pod's only container");
      const selectors = [
        `k8s:ns:${find("Deployment").metadata.namespace}`,
        `k8s:sa:${pod.spec.serviceAccountName}`,
        ...Object.entries(pod.metadata.labels).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
        `k8s:container-name:${pod.spec.containers[0].name}`,
      ];
      assert.deepEqual([...gateway.entry.selectors].sort(), selectors.sort());
      assert.equal(gateway.identityValue, `${TD}/ns/shop/sa/${pod.spec.serviceAccountName}`);
    });

    it("creates its account (no token), bootstrap, Deployment, Service and NetworkPolicy, all schema-valid", async () => {
      // Facing outside the cluster, so with edge TLS (a plaintext listener there is refused).
      const { objects, find } = await build((i) =>
        edgeGateway(i, {
          serviceType: ServiceType.LoadBalancer,
          listener: { tlsMode: TlsMode.Strict, edgeTlsSecret: "edge-tls" },
        }),
      );
      assert.deepEqual(objects.map((o) => `${o.kind}/${baseName(o.metadata.name)}`).sort(), [
        "ConfigMap/edge-envoy",
        "Deployment/edge",
        "NetworkPolicy/edge",
        "Service/edge",
        "ServiceAccount/edge",
      ]);
      assert.equal(find("ServiceAccount").automountServiceAccountToken, false);
      const service = find("Service");
      assert.equal(service.spec.type, "LoadBalancer");
      const [envoy] = find("Deployment").spec.template.spec.containers;
      const gatewayPort = envoy.ports.find((p: { name: string }) => p.name === "gateway");
      assert.equal(service.spec.ports[0].targetPort, gatewayPort.containerPort);
      const bootstrap = JSON.parse(find("ConfigMap").data["bootstrap.json"]);
      assert.equal(bootstrap.static_resources.listeners[0].address.socket_address.port_value, 8088);
      validateKubernetesObjects(objects as unknown as K8sObject[]);
    });

    it("outputs what the policy pack reads: gatewayName, identity, allowedCallers, allowedServers", async () => {
      const { gateway } = await build((i) =>
        edgeGateway(i, { listener: { tlsMode: TlsMode.Strict, callers: [`${TD}/partner`] } }),
      );
      assert.deepEqual(
        await Promise.all([
          output(gateway.gatewayName),
          output(gateway.identity),
          output(gateway.allowedCallers),
          output(gateway.allowedServers),
        ]),
        ["edge", EDGE, [`${TD}/partner`], [`${TD}/ns/shop/sa/ledger`]],
      );
    });
  });

  describe("on the appmesh data plane", () => {
    it("a VirtualGateway selecting its pods, its route and its route's namespace; the Deployment's envoy", async () => {
      const { objects, find } = await build((i) => edgeGateway(i, { dataPlane: DataPlane.AppMesh }));
      const gateway = find("VirtualGateway");
      const route = find("GatewayRoute");
      const deployment = find("Deployment");
      const labels = deployment.spec.template.metadata.labels;
      assert.deepEqual(gateway.spec.podSelector.matchLabels, labels);
      const routeSelector = Object.entries(gateway.spec.gatewayRouteSelector.matchLabels);
      assert.ok(routeSelector.length > 0, "an empty selector would take every route of the namespace");
      for (const [k, v] of routeSelector) assert.equal(route.metadata.labels?.[k], v);
      // Kubernetes labels every namespace with its own name.
      assert.deepEqual(gateway.spec.namespaceSelector.matchLabels, {
        "kubernetes.io/metadata.name": route.metadata.namespace,
      });
      assert.deepEqual(
        deployment.spec.template.spec.containers.map((c: { name: string }) => c.name),
        ["envoy"],
      );
      assert.deepEqual(gateway.spec.backendDefaults.clientPolicy.tls.validation.subjectAlternativeNames, {
        match: { exact: [`${TD}/ns/shop/sa/ledger`] },
      });
      validateAppMeshObjects(objects as unknown as K8sObject[]);
      validateKubernetesObjects(
        objects.filter((o) => !o.apiVersion.startsWith("appmesh")) as unknown as K8sObject[],
      );
    });
  });

  describe("its targets admit it", () => {
    it("a target that does not fails, naming the backend and the gateway's identity", async () => {
      const p = await problemOf((i) => {
        const ledger = workload(i, "ledger", { callers: [`${TD}/ns/shop/sa/web`] });
        return new MtlsVirtualGateway("bad", {
          namespace: "shop",
          installation: i,
          backends: [ledger],
          routes: [{ prefix: "/", virtualService: "ledger" }],
        });
      });
      assert.equal(p.field, "backends[0]");
      assert.equal(p.value, `${TD}/ns/shop/sa/ledger`);
      assert.match(p.rule, new RegExp(`does not admit ${TD}/ns/shop/sa/bad`));
    });
  });

  describe("bad input (issue 13), each rejected before any resource", () => {
    const bad = (args: Partial<MtlsVirtualGatewayArgs>) => (i: SpireInstallation) => {
      const ledger = workload(i, "ledger", { callers: [`${TD}/ns/shop/sa/bad`] });
      return new MtlsVirtualGateway("bad", {
        namespace: "shop",
        installation: i,
        backends: [ledger],
        routes: [{ prefix: "/ledger", virtualService: "ledger" }],
        ...args,
      });
    };

    it("a route to an unknown service", async () => {
      const p = await problemOf(bad({ routes: [{ prefix: "/ledger", virtualService: "ledgr" }] }));
      assert.deepEqual([p.field, p.value], ["routes[0].virtualService", "ledgr"]);
      assert.match(p.rule, /is an unknown service: must be one of the gateway's backends \(ledger\)/);
    });

    it("a duplicate prefix", async () => {
      const p = await problemOf(
        bad({
          routes: [
            { prefix: "/ledger", virtualService: "ledger" },
            {
              name: "again",
              prefix: "/ledger",
              header: { name: "x-v", value: "2" },
              virtualService: "ledger",
            },
          ],
        }),
      );
      assert.deepEqual([p.field, p.value], ["routes[1].prefix", "/ledger"]);
      assert.match(p.rule, /repeats the prefix of routes\[0\]/);
    });

    it("STRICT without callers", async () => {
      const p = await problemOf(bad({ listener: { tlsMode: TlsMode.Strict } }));
      assert.deepEqual([p.field, p.value], ["listener.callers", []]);
      assert.match(p.rule, /STRICT needs callers/);
    });

    it("an edge TLS Secret name that is not a DNS-1123 name", async () => {
      const p = await problemOf(bad({ listener: { tlsMode: TlsMode.Strict, edgeTlsSecret: "Edge_TLS" } }));
      assert.deepEqual([p.field, p.value], ["listener.edgeTlsSecret", "Edge_TLS"]);
      assert.match(p.rule, /must be a Secret name \(DNS-1123 subdomain/);
    });

    it("a port clash with the gateway Envoy's readiness port", async () => {
      const p = await problemOf(bad({ listener: { port: 15021 } }));
      assert.deepEqual([p.field, p.value], ["listener.port", 15021]);
      assert.match(p.rule, /clashes with the gateway Envoy's readiness port \(15021\)/);
    });

    it("a second gateway of the same name under the installation (its Deployment's and Service's)", async () => {
      const { value, resources } = await construct(() => {
        const i = walkthroughInstallation();
        edgeGateway(i);
        return new MtlsVirtualGateway("bad-edge", {
          name: "edge",
          entryName: "bad-edge",
          namespace: "shop",
          installation: i,
          backends: [],
          routes: [],
        });
      });
      assert.ok(value instanceof ValidationError, String(value));
      assert.deepEqual(
        outsideInstallation(resources).filter((r) => r.name.startsWith("bad")),
        [],
      );
      assert.deepEqual(
        value.problems.map((p) => [p.field, p.value, p.rule]),
        [
          ["name", "shop/edge", "is already taken by MtlsVirtualGateway edge"],
          ["serviceName", "shop/edge", "is already taken by MtlsVirtualGateway edge"],
        ],
      );
    });

    it("a plaintext or PERMISSIVE listener behind a LoadBalancer or NodePort, unless allowPlaintextExternal", async () => {
      for (const serviceType of [ServiceType.LoadBalancer, ServiceType.NodePort]) {
        for (const listener of [{}, { tlsMode: TlsMode.Permissive }]) {
          const p = await problemOf(bad({ serviceType, listener }));
          assert.deepEqual([p.field, p.value], ["serviceType", serviceType]);
          assert.match(
            p.rule,
            /exposes a listener that takes plaintext .* outside the cluster: set listener\.tlsMode STRICT/,
          );
        }
      }
      // The same gateway is accepted when asked for, on ClusterIP, or with STRICT edge TLS.
      for (const args of [
        { serviceType: ServiceType.LoadBalancer, listener: { allowPlaintextExternal: true } },
        { serviceType: ServiceType.ClusterIP },
        {
          serviceType: ServiceType.NodePort,
          listener: { tlsMode: TlsMode.Strict, edgeTlsSecret: "edge-tls" },
        },
      ]) {
        const { value } = await construct(() => bad(args)(walkthroughInstallation()));
        assert.ok(!(value instanceof Error), `${JSON.stringify(args)}: ${String(value)}`);
      }
    });

    it("edge limits out of range, each named: trusted hops, timeouts, their order, the connection cap", async () => {
      for (const [listener, field, rule] of [
        [{ xffNumTrustedHops: -1 }, "listener.xffNumTrustedHops", /integer in 0-16/],
        [{ xffNumTrustedHops: 1.5 }, "listener.xffNumTrustedHops", /integer in 0-16/],
        [{ requestHeadersTimeoutMillis: 0 }, "listener.requestHeadersTimeoutMillis", /1-86400000/],
        [{ streamIdleTimeoutMillis: "5s" }, "listener.streamIdleTimeoutMillis", /1-86400000/],
        [
          { requestHeadersTimeoutMillis: 60_000, streamIdleTimeoutMillis: 30_000 },
          "listener.requestHeadersTimeoutMillis",
          /shorter than streamIdleTimeoutMillis \(30000\)/,
        ],
        [{ maxConnections: 0 }, "listener.maxConnections", /integer in 1-1000000/],
        [{ allowPlaintextExternal: "yes" }, "listener.allowPlaintextExternal", /true or false/],
      ] as const) {
        const p = await problemOf(bad({ listener: listener as never }));
        assert.equal(p.field, field, JSON.stringify(listener));
        assert.match(p.rule, rule);
      }
    });

    it("a route prefix with ? or #: routes match the path alone", async () => {
      const p = await problemOf(bad({ routes: [{ prefix: "/ledger?v=2", virtualService: "ledger" }] }));
      assert.deepEqual([p.field, p.value], ["routes[0].prefix", "/ledger?v=2"]);
      assert.match(p.rule, /no \? or #/);
    });

    it("a callers list on a plaintext listener", async () => {
      const p = await problemOf(bad({ listener: { callers: [`${TD}/partner`] } }));
      assert.deepEqual([p.field, p.value], ["listener.callers", [`${TD}/partner`]]);
      assert.match(p.rule, /need listener TLS/);
    });
  });
});
