/**
 * The rendered NetworkPolicies against the mesh graph, in the renders of the dev stack (envoy, with and without
 * the gateway, and appmesh), the consumer example and both federation stacks. The graph is read from what the
 * proxies are configured with, never from the policies: on envoy the bootstrap's upstream clusters (host:port,
 * resolved through the rendered Services to pods and target ports), on appmesh the VirtualNodes, VirtualRouters,
 * VirtualServices and GatewayRoutes. What the policies allow is computed by an evaluator (support/networkPolicy).
 * For every proxied pod:
 * - it is selected in both directions, by a policy of its own (a namespace not ours has no default-deny);
 * - its egress reaches exactly its graph's backends (on the port they take mesh traffic on) and DNS, no other pod
 *   of the render on any port it listens on, and outside addresses only on its remote backends' ports;
 * - every edge of the graph passes both ends' policies;
 * - a STRICT listener admits exactly the pods that call it, a non-STRICT one any pod (its callers are not known).
 * Every other pod is selected in both directions too, unless it is on the host network (the SPIRE agent only).
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import type { RenderResult } from "../../render/runtime";
import { type Endpoint, type Pod, type PolicySet, policySet } from "../support/networkPolicy";
import {
  appMesh,
  type KubeObject,
  kubernetesObjects,
  mountedConfigMap,
  renderStack,
} from "../support/render";
import { testCaBundle } from "../support/testCa";

// biome-ignore lint/suspicious/noExplicitAny: manifests are plain JSON.
type Json = any;

interface Template {
  readonly key: string;
  readonly object: KubeObject;
  readonly pod: Pod;
  /** What its containers listen on. */
  readonly ports: readonly { port: number; protocol: string; name?: string }[];
}

/** A pod the proxy of another reaches, on a port. */
interface Edge {
  readonly to: string;
  readonly port: number;
}

interface Proxy {
  /** Its SPIFFE ID: the SDS secret of its own certificate. */
  readonly identity: string;
  /** Where it takes mesh traffic, and (STRICT) the SPIFFE IDs whose client certificates get in. */
  readonly ingressPort: number;
  readonly strictCallers?: readonly string[];
  readonly edges: readonly Edge[];
  /** Ports of backends outside the cluster (and App Mesh's management endpoint). */
  readonly externalPorts: readonly number[];
}

const DNS: Template = {
  key: "cluster DNS",
  object: { apiVersion: "v1", kind: "Pod", metadata: { name: "coredns", namespace: "kube-system" } },
  pod: { namespace: "kube-system", labels: { "k8s-app": "kube-dns" } },
  ports: [
    { port: 53, protocol: "UDP" },
    { port: 53, protocol: "TCP" },
  ],
};
/** A pod of a namespace the render knows nothing of, listening where meshed pods do. */
const OUTSIDER: Template = {
  key: "outsider",
  object: { apiVersion: "v1", kind: "Pod", metadata: { name: "outsider", namespace: "outsider" } },
  pod: { namespace: "outsider", labels: { app: "outsider" } },
  ports: [],
};
const EXTERNAL: Endpoint = { external: "203.0.113.7" };
/** Ports probed at an outside address: every port the render uses, and the usual suspects. */
const EXTERNAL_CANDIDATES = [53, 80, 443, 5432, 6443, 8080, 8081, 8443, 15000];

function templates(objects: readonly KubeObject[]): Template[] {
  return objects
    .filter((o) => ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind))
    .map((o) => {
      const spec = o.spec.template.spec;
      const containers = [...(spec.initContainers ?? []), ...spec.containers];
      return {
        key: `${o.kind} ${o.metadata.namespace}/${o.metadata.name}`,
        object: o,
        pod: {
          namespace: o.metadata.namespace as string,
          labels: o.spec.template.metadata.labels,
          hostNetwork: spec.hostNetwork === true,
        },
        ports: containers.flatMap((c: Json) =>
          (c.ports ?? []).map((p: Json) => ({
            port: p.containerPort,
            protocol: p.protocol ?? "TCP",
            name: p.name,
          })),
        ),
      };
    });
}

const labelsMatch = (selector: Record<string, string>, labels: Readonly<Record<string, string>>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The pods a Service sends a port to, and the port they receive it on. */
function serviceEdges(all: readonly Template[], service: KubeObject, port: number): Edge[] {
  const sp = service.spec.ports.find((p: Json) => p.port === port);
  assert.ok(sp, `Service ${service.metadata.name} has no port ${port}`);
  return all
    .filter(
      (t) =>
        t.pod.namespace === service.metadata.namespace &&
        labelsMatch(service.spec.selector ?? {}, t.pod.labels),
    )
    .map((t) => {
      const target =
        typeof sp.targetPort === "number"
          ? sp.targetPort
          : t.ports.find((p) => p.name === sp.targetPort)?.port;
      assert.ok(
        target,
        `${t.key}: Service ${service.metadata.name}'s target port ${sp.targetPort} is not one of its`,
      );
      return { to: t.key, port: target };
    });
}

/** Every value of `key` anywhere under `node`, in document order. */
function valuesOf(node: Json, key: string): Json[] {
  if (node === null || typeof node !== "object") return [];
  return [...(key in node ? [node[key]] : []), ...Object.values(node).flatMap((v) => valuesOf(v, key))];
}

/** envoy: the graph as each proxy's bootstrap has it. */
function envoyProxies(r: RenderResult, objects: KubeObject[], all: Template[]): Map<string, Proxy> {
  const proxies = new Map<string, Proxy>();
  const services = objects.filter((o) => o.kind === "Service");
  for (const t of all) {
    const volumes = t.object.spec.template.spec.volumes ?? [];
    if (!volumes.some((v: Json) => v.name === "envoy-bootstrap")) continue;
    const ns = t.pod.namespace;
    const cm = mountedConfigMap(r, t.object.kind, t.object.metadata.name, ns, "envoy-bootstrap");
    const bootstrap = JSON.parse(cm.data["bootstrap.json"]);
    const ingress = bootstrap.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_ingress_"));
    assert.ok(ingress, `${t.key}: its bootstrap has no ingress listener`);
    const edges: Edge[] = [];
    const externalPorts: number[] = [];
    for (const c of bootstrap.static_resources.clusters.filter((x: Json) => x.type === "STRICT_DNS")) {
      const { address, port_value } =
        c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      const m = /^([^.]+)\.([^.]+)\.svc\.cluster\.local$/.exec(address);
      const service = m && services.find((s) => s.metadata.name === m[1] && s.metadata.namespace === m[2]);
      if (service) edges.push(...serviceEdges(all, service, port_value));
      else externalPorts.push(port_value);
    }
    const strict = valuesOf(ingress, "require_client_certificate").includes(true);
    proxies.set(t.key, {
      identity: valuesOf(bootstrap, "tls_certificate_sds_secret_configs")[0][0].name,
      ingressPort: ingress.address.socket_address.port_value,
      ...(strict
        ? {
            strictCallers: valuesOf(ingress, "match_typed_subject_alt_names")
              .flat()
              .map((m: Json) => m.matcher.exact),
          }
        : {}),
      edges,
      externalPorts,
    });
  }
  return proxies;
}

/** appmesh: the graph as the App Mesh resources have it; every injected Envoy also streams from 443. */
function appMeshProxies(objects: KubeObject[], all: Template[]): Map<string, Proxy> {
  const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const named = (kind: string, ns: string, name: string) => {
    const found = ofKind(kind).find((o) => o.metadata.name === name && o.metadata.namespace === ns);
    assert.ok(found, `no ${kind} ${ns}/${name}`);
    return found;
  };
  const podsOf = (o: KubeObject) =>
    all.filter(
      (t) =>
        t.pod.namespace === o.metadata.namespace && labelsMatch(o.spec.podSelector.matchLabels, t.pod.labels),
    );
  const nodeEdges = (ns: string, virtualService: string): Edge[] => {
    const vs = named("VirtualService", ns, virtualService);
    const router = named("VirtualRouter", ns, vs.spec.provider.virtualRouter.virtualRouterRef.name);
    return router.spec.routes.flatMap((route: Json) =>
      route.httpRoute.action.weightedTargets.flatMap((w: Json) => {
        const node = named("VirtualNode", ns, w.virtualNodeRef.name);
        return podsOf(node).map((t) => ({ to: t.key, port: node.spec.listeners[0].portMapping.port }));
      }),
    );
  };
  const proxies = new Map<string, Proxy>();
  for (const node of ofKind("VirtualNode")) {
    const ns = node.metadata.namespace as string;
    const listener = node.spec.listeners[0];
    for (const t of podsOf(node)) {
      proxies.set(t.key, {
        identity:
          listener.tls?.certificate?.sds?.secretName ??
          node.spec.backendDefaults?.clientPolicy?.tls?.certificate?.sds?.secretName,
        ingressPort: listener.portMapping.port,
        ...(listener.tls?.mode === "STRICT"
          ? { strictCallers: listener.tls.validation.subjectAlternativeNames.match.exact }
          : {}),
        edges: (node.spec.backends ?? []).flatMap((b: Json) =>
          nodeEdges(ns, b.virtualService.virtualServiceRef.name),
        ),
        externalPorts: [443],
      });
    }
  }
  for (const gateway of ofKind("VirtualGateway")) {
    const ns = gateway.metadata.namespace as string;
    const routes = ofKind("GatewayRoute").filter(
      (g) =>
        g.metadata.namespace === ns &&
        labelsMatch(gateway.spec.gatewayRouteSelector.matchLabels, g.metadata.labels ?? {}),
    );
    for (const t of podsOf(gateway)) {
      proxies.set(t.key, {
        identity: gateway.spec.backendDefaults.clientPolicy.tls.certificate.sds.secretName,
        ingressPort: gateway.spec.listeners[0].portMapping.port,
        edges: routes.flatMap((g) =>
          nodeEdges(ns, g.spec.httpRoute.action.target.virtualService.virtualServiceRef.name),
        ),
        externalPorts: [443],
      });
    }
  }
  return proxies;
}

const endpoint = (t: Template): Endpoint => ({ pod: t.pod });
const edgeKey = (to: string, port: number, protocol = "TCP") => `${to}:${port}/${protocol}`;

/** What one render's check covered: its floors make an empty or degenerate render fail. */
interface Checked {
  readonly proxies: number;
  readonly edges: number;
  /** STRICT listeners held to exactly their callers' pods. */
  readonly exact: number;
  /** Proxies with a backend outside the cluster. */
  readonly external: number;
  readonly others: number;
}

/** Every claim of the header, on one render; returns what was checked (for the floors). */
function checkRender(r: RenderResult): Checked {
  const objects = kubernetesObjects(r);
  const policies: PolicySet = policySet(objects);
  const all = templates(objects);
  const proxies = objects.some((o) => o.kind === "VirtualNode")
    ? appMeshProxies(objects, all)
    : envoyProxies(r, objects, all);
  const universe = [...all, DNS, OUTSIDER];
  const byKey = new Map(universe.map((t) => [t.key, t]));

  for (const t of all.filter((x) => !x.pod.hostNetwork)) {
    for (const direction of ["Ingress", "Egress"] as const) {
      const selecting = policies.selecting(t.pod, direction);
      assert.ok(selecting.length > 0, `${t.key}: no policy selects it for ${direction}`);
      if (proxies.has(t.key))
        assert.ok(
          selecting.some((p) => Object.keys(p.spec.podSelector.matchLabels ?? {}).length > 0),
          `${t.key}: only a namespace-wide policy isolates it for ${direction}; it needs its own`,
        );
    }
  }
  // Policies do not apply to host-network pods: only the SPIRE agent may be one.
  for (const t of all.filter((x) => x.pod.hostNetwork))
    assert.match(t.key, /^DaemonSet [^/]+\/spire-agent$/, `${t.key} runs on the host network`);

  let edges = 0;
  let exact = 0;
  for (const [key, proxy] of proxies) {
    const self = byKey.get(key) as Template;
    // An outside backend's address is not known here: its port is open to any address, pods of the render
    // listening on it included (a documented cost, named in the message).
    const sidePorts = new Set(proxy.externalPorts);
    const expected = new Set([
      ...proxy.edges.map((e) => edgeKey(e.to, e.port)),
      ...DNS.ports.map((p) => edgeKey(DNS.key, p.port, p.protocol)),
      ...universe
        .filter((t) => t.key !== key)
        .flatMap((t) =>
          t.ports
            .filter((p) => p.protocol === "TCP" && sidePorts.has(p.port))
            .map((p) => edgeKey(t.key, p.port)),
        ),
    ]);
    const reachable = new Set(
      universe
        .filter((t) => t.key !== key)
        .flatMap((t) =>
          t.ports
            .filter((p) => policies.allows("Egress", self.pod, endpoint(t), p.port, p.protocol))
            .map((p) => edgeKey(t.key, p.port, p.protocol)),
        ),
    );
    assert.deepEqual([...reachable].sort(), [...expected].sort(), `${key}: egress to pods`);
    const outside = EXTERNAL_CANDIDATES.filter((p) => policies.allows("Egress", self.pod, EXTERNAL, p));
    assert.deepEqual(
      outside,
      [...new Set(proxy.externalPorts)].sort((a, b) => a - b),
      `${key}: egress outside`,
    );

    for (const e of proxy.edges) {
      assert.ok(
        policies.connects(endpoint(self), endpoint(byKey.get(e.to) as Template), e.port),
        `${key} -> ${e.to}:${e.port} is in the graph but the policies drop it`,
      );
      edges++;
    }

    // A STRICT listener whose every caller is a pod of the render admits exactly those pods; any other (no
    // client certificate required, or a caller of a peer cluster) is open on its mesh port.
    const admitted = universe
      .filter((t) => t.key !== key && t !== DNS)
      .filter((t) => policies.allows("Ingress", self.pod, endpoint(t), proxy.ingressPort))
      .map((t) => t.key);
    const callerPods = [...proxies]
      .filter(([, p]) => proxy.strictCallers?.includes(p.identity))
      .map(([k]) => k);
    const known = new Set([...proxies.values()].map((p) => p.identity));
    if (proxy.strictCallers?.every((id) => known.has(id))) {
      assert.deepEqual(admitted.sort(), callerPods.sort(), `${key}: a STRICT listener's sources`);
      exact++;
    } else
      assert.ok(
        admitted.includes(OUTSIDER.key),
        `${key}: callers not all known as pods, so the port is open`,
      );
  }
  // The SPIRE server reaches no pod but DNS: its peers (API server, datastore, federated servers) are outside.
  for (const server of all.filter(
    (t) => t.key.startsWith("StatefulSet ") && t.key.endsWith("/spire-server"),
  )) {
    const pods = universe
      .filter((t) => t !== server && t !== DNS)
      .flatMap((t) =>
        t.ports
          .filter((p) => policies.allows("Egress", server.pod, endpoint(t), p.port, p.protocol))
          .map((p) => edgeKey(t.key, p.port)),
      );
    assert.deepEqual(pods, [], `${server.key}: egress to pods of the render`);
  }
  const external = [...proxies.values()].filter((p) => p.externalPorts.some((x) => x !== 443)).length;
  return { proxies: proxies.size, edges, exact, external, others: all.length - proxies.size };
}

describe("rendered NetworkPolicies against the mesh graph", function () {
  this.timeout(300_000);
  const consumer = path.resolve(__dirname, "../../examples/consumer");
  const federation = path.resolve(__dirname, "../../examples/federation");

  const cases: [string, () => Promise<RenderResult>, Omit<Checked, "others">][] = [
    ["dev (envoy)", () => renderStack("dev"), { proxies: 4, edges: 3, exact: 3, external: 0 }],
    [
      "dev with the gateway (envoy)",
      () => renderStack("dev", { gateway: "true" }),
      { proxies: 5, edges: 6, exact: 3, external: 0 },
    ],
    [
      "dev with the gateway (appmesh)",
      () => renderStack("dev", { ...appMesh, gateway: "true" }),
      { proxies: 5, edges: 6, exact: 3, external: 0 },
    ],
    [
      "examples/consumer (ledger in its own namespace, called from the demo's)",
      () => renderStack("dev", {}, consumer),
      { proxies: 5, edges: 3, exact: 4, external: 0 },
    ],
    [
      "examples/federation west (a backend in the peer cluster)",
      () => renderStack("west", {}, federation),
      { proxies: 1, edges: 0, exact: 0, external: 1 },
    ],
    [
      "examples/federation east (a caller in the peer cluster)",
      () => renderStack("east", {}, federation),
      { proxies: 1, edges: 0, exact: 0, external: 0 },
    ],
  ];
  it("eks with RDS: the SPIRE servers reach the EKS API server (443) and the database on its port", async () => {
    const r = await renderStack("eks", {
      spireDatastore: "rds",
      spireDatastoreCaBundle: testCaBundle(),
      spireReplicas: "2",
    });
    const db = r.resources.find((x) => x.type === "aws:rds/instance:Instance");
    assert.ok(db, "the render has no RDS instance");
    const dbPort = (db.inputs as Json).port ?? 5432;
    const policies = policySet(kubernetesObjects(r));
    const [server] = templates(kubernetesObjects(r)).filter(
      (t) => t.key === "StatefulSet spire/spire-server",
    );
    for (const port of [443, dbPort])
      assert.ok(
        policies.allows("Egress", server.pod, EXTERNAL, port),
        `the server cannot reach port ${port}`,
      );
    checkRender(r);
  });

  for (const [name, render, floors] of cases) {
    it(name, async () => {
      const checked = checkRender(await render());
      for (const [what, floor] of Object.entries(floors))
        assert.ok(
          checked[what as keyof Checked] >= floor,
          `${name}: ${what} ${checked[what as keyof Checked]}, expected >= ${floor}`,
        );
      assert.ok(checked.others >= 2, `${name}: the SPIRE pods are checked too`);
    });
  }
});
