/**
 * The self-managed Envoy data plane (the default) as the dev stack renders it: sidecars, bootstraps with App
 * Mesh's names and mTLS semantics, no App Mesh objects, and no path to an app around its sidecar.
 */
import assert from "node:assert/strict";
import { requestedSecretNames } from "../../mesh/envoyBootstrap";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";
import { kubernetesSchemaCoverage, validateKubernetesObjects } from "../support/kubernetesSchema";
import { findObject, kubernetesObjects, mountedConfigMap, renderStack } from "../support/render";

const NS = "howto-k8s-mtls-sds-based";
const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const cluster = (vn: string) =>
  `cds_egress_howto-k8s-mtls-sds-based_${vn}_howto-k8s-mtls-sds-based_http_8080`;

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

async function bootstrapOf(name: string, overrides: Record<string, string> = {}): Promise<Json> {
  const configMap = mountedConfigMap(
    await renderStack("dev", overrides),
    "Deployment",
    name,
    NS,
    "envoy-bootstrap",
  );
  return JSON.parse(configMap.data["bootstrap.json"]);
}

const listener = (b: Json, prefix: string) =>
  b.static_resources.listeners.find((l: Json) => l.name.startsWith(prefix));
const clusterNamed = (b: Json, name: string) =>
  b.static_resources.clusters.find((c: Json) => c.name === name);
const tlsContext = (socket: Json) => socket.typed_config.common_tls_context;
const sans = (ctx: Json) =>
  ctx.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map(
    (m: Json) => m.matcher.exact,
  );

describe("envoy data plane (dev stack default)", () => {
  it("renders no App Mesh objects and no controller", async () => {
    const r = await renderStack("dev");
    assert.deepEqual(
      kubernetesObjects(r).filter((o) => o.apiVersion.startsWith("appmesh.k8s.aws")),
      [],
    );
    assert.ok(!r.resources.some((x) => x.type.startsWith("kubernetes:helm.sh")));
    const ns = findObject(r, "Namespace", NS);
    assert.equal(ns.metadata.labels?.["appmesh.k8s.aws/sidecarInjectorWebhook"], undefined);
  });

  it("every Kubernetes object passes the Kubernetes schema checks, and none is a custom resource", async () => {
    for (const overrides of [{}, { registerGreen: "true" }] as Record<string, string>[]) {
      const objects = kubernetesObjects(await renderStack("dev", overrides));
      assert.deepEqual(kubernetesSchemaCoverage(objects).customResources, []);
      validateKubernetesObjects(objects);
    }
  });

  it("every meshed pod has a native sidecar named envoy, with its bootstrap and the Workload API by CSI", async () => {
    const r = await renderStack("dev");
    for (const name of ["front", "blue", "green", "red"]) {
      const pod = findObject(r, "Deployment", name, NS).spec.template.spec;
      assert.deepEqual(
        pod.containers.map((c: Json) => c.name),
        ["app"],
      );
      const envoy = pod.initContainers.find((c: Json) => c.name === "envoy");
      assert.ok(envoy, `${name} has an envoy sidecar (SPIRE selects k8s:container-name:envoy)`);
      // A native sidecar: started before the app (which waits for its startup probe), stopped after it.
      assert.equal(envoy.restartPolicy, "Always");
      assert.equal(envoy.startupProbe.httpGet.path, "/ready");
      assert.deepEqual(envoy.lifecycle, { preStop: { sleep: { seconds: 5 } } });
      assert.equal(envoy.image, "envoyproxy/envoy:v1.39.5");
      const mounts = Object.fromEntries(envoy.volumeMounts.map((m: Json) => [m.name, m.mountPath]));
      assert.equal(mounts["spire-agent-socket"], "/run/spire/sockets");
      const socket = pod.volumes.find((v: Json) => v.name === "spire-agent-socket");
      assert.deepEqual(socket, {
        name: "spire-agent-socket",
        csi: { driver: "spire.csi.spiffe.io", readOnly: true },
      });
      const bootstrap = pod.volumes.find((v: Json) => v.name === "envoy-bootstrap");
      assert.match(bootstrap.configMap.name, new RegExp(`^${name}-envoy-[0-9a-f]{10}$`));
      assert.equal(envoy.readinessProbe.httpGet.path, "/ready");
    }
  });

  it("a NetworkPolicy per meshed workload isolates it both ways, under the namespace's default-deny", async () => {
    // What the policies allow is checked against the graph in tests/render/networkPolicies.test.ts.
    const r = await renderStack("dev");
    const policies = kubernetesObjects(r).filter(
      (o) => o.kind === "NetworkPolicy" && o.metadata.namespace === NS,
    );
    assert.deepEqual(policies.map((p) => p.metadata.name).sort(), [
      "blue",
      "default-deny",
      "front",
      "green",
      "red",
    ]);
    for (const p of policies.filter((x) => x.metadata.name !== "default-deny")) {
      const deployment = findObject(r, "Deployment", p.metadata.name, NS);
      assert.deepEqual(p.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels);
      assert.deepEqual(p.spec.policyTypes, ["Ingress", "Egress"]);
    }
    // The server admits its gRPC and health ports only.
    const server = findObject(r, "NetworkPolicy", "spire-server", "spire");
    assert.deepEqual(server.spec.ingress[0].ports, [
      { protocol: "TCP", port: 8081 },
      { protocol: "TCP", port: 8080 },
    ]);
  });

  it("spireWorkloadApi=hostPath mounts the agent's socket directory instead", async () => {
    const pod = findObject(
      await renderStack("dev", { spireWorkloadApi: "hostPath" }),
      "Deployment",
      "blue",
      NS,
    ).spec.template.spec;
    const socket = pod.volumes.find((v: Json) => v.name === "spire-agent-socket");
    assert.deepEqual(socket.hostPath, { path: "/run/spire/sockets", type: "Directory" });
  });

  it("apps listen on loopback only and Services target the sidecar's ingress port", async () => {
    const r = await renderStack("dev");
    for (const [name, service] of [
      ["front", "front"],
      ["blue", "color-blue"],
      ["green", "color-green"],
      ["red", "color-red"],
    ]) {
      const app = findObject(r, "Deployment", name, NS).spec.template.spec.containers.find(
        (c: Json) => c.name === "app",
      );
      assert.ok(
        app.env.some((e: Json) => e.name === "BIND_ADDRESS" && e.value === "127.0.0.1"),
        name,
      );
      assert.equal(app.ports, undefined, `${name}'s app exposes no port`);
      assert.equal(findObject(r, "Service", service, NS).spec.ports[0].targetPort, 15000);
    }
  });

  it("front reaches the color virtual service through its sidecar's egress listener", async () => {
    const r = await renderStack("dev");
    const pod = findObject(r, "Deployment", "front", NS).spec.template.spec;
    assert.deepEqual(pod.hostAliases, [{ ip: "127.0.0.2", hostnames: [`color.${NS}.svc.cluster.local`] }]);
    const app = pod.containers.find((c: Json) => c.name === "app");
    assert.ok(
      app.env.some((e: Json) => e.name === "COLOR_HOST" && e.value === `color.${NS}.svc.cluster.local:8080`),
    );
  });

  it("an SDS cluster to the agent socket, static, over HTTP/2 without the deprecated cluster field", async () => {
    const sds = clusterNamed(await bootstrapOf("blue"), "static_cluster_sds_unix_socket");
    assert.equal(sds.type, "STATIC");
    assert.equal(
      sds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path,
      "/run/spire/sockets/agent.sock",
    );
    assert.deepEqual(
      sds.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        .explicit_http_config,
      { http2_protocol_options: {} },
    );
    assert.equal(sds.http2_protocol_options, undefined);
  });

  it("colour nodes: STRICT ingress on 0.0.0.0:15000 with their SVID, the bundle and front as the only SAN", async () => {
    for (const color of ["blue", "green", "red"]) {
      const b = await bootstrapOf(color);
      const ingress = listener(b, "lds_ingress_0.0.0.0_15000");
      assert.deepEqual(ingress.address.socket_address, { address: "0.0.0.0", port_value: 15000 });
      assert.equal(ingress.filter_chains.length, 1);
      const socket = ingress.filter_chains[0].transport_socket;
      assert.equal(socket.typed_config.require_client_certificate, true);
      const ctx = tlsContext(socket);
      assert.equal(ctx.tls_certificate_sds_secret_configs[0].name, `${TD}/color${color}`);
      assert.equal(ctx.combined_validation_context.validation_context_sds_secret_config.name, TD);
      assert.deepEqual(sans(ctx), [`${TD}/front`]);
      const route = ingress.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0];
      const local = clusterNamed(b, route.route.cluster);
      assert.deepEqual(local.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, {
        address: "127.0.0.1",
        port_value: 8080,
      });
    }
  });

  it("front: plaintext ingress (as the walkthrough), and the router's header routes in priority order", async () => {
    const b = await bootstrapOf("front");
    const ingress = listener(b, "lds_ingress_0.0.0.0_15000");
    assert.equal(ingress.filter_chains[0].transport_socket, undefined);
    const egress = listener(b, "lds_egress_");
    assert.deepEqual(egress.address.socket_address, { address: "127.0.0.2", port_value: 8080 });
    const routes = egress.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    assert.deepEqual(
      routes.map((r: Json) => [
        r.name,
        r.match.headers[0].name,
        r.match.headers[0].string_match.exact,
        r.route.cluster,
      ]),
      [
        ["color-route-blue", "color_header", "blue", cluster("blue")],
        ["color-route-green", "color_header", "green", cluster("green")],
        ["color-route-red", "color_header", "red", cluster("red")],
      ],
    );
  });

  it("each backend cluster does mTLS with its own SAN check and the target's health check on /ping", async () => {
    const b = await bootstrapOf("front");
    for (const color of ["blue", "green", "red"]) {
      const c = clusterNamed(b, cluster(color));
      assert.deepEqual(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, {
        address: `color-${color}.${NS}.svc.cluster.local`,
        port_value: 8080,
      });
      const ctx = tlsContext(c.transport_socket);
      assert.equal(ctx.tls_certificate_sds_secret_configs[0].name, `${TD}/front`);
      assert.deepEqual(sans(ctx), [`${TD}/color${color}`]);
      assert.deepEqual(c.health_checks, [
        {
          timeout: "2s",
          interval: "5s",
          healthy_threshold: 2,
          unhealthy_threshold: 2,
          http_health_check: { path: "/ping" },
        },
      ]);
    }
  });

  it("admin is a Unix socket only Envoy's uid opens, in a volume no other container mounts; no TCP admin anywhere", async () => {
    const r = await renderStack("dev", { gateway: "true" });
    const meshed = kubernetesObjects(r).filter(
      (o) =>
        o.kind === "Deployment" &&
        [...(o.spec.template.spec.initContainers ?? []), ...o.spec.template.spec.containers].some(
          (c: Json) => c.name === "envoy",
        ),
    );
    assert.deepEqual(
      meshed.map((d) => d.metadata.name).sort(),
      ["blue", "front", "gateway", "green", "red"],
      "every Envoy pod of the render is checked",
    );
    for (const d of meshed) {
      const name = d.metadata.name;
      const pod = d.spec.template.spec;
      const b = JSON.parse(
        mountedConfigMap(r, "Deployment", name, NS, "envoy-bootstrap").data["bootstrap.json"],
      );
      // 0o600: only the socket's owner (Envoy's uid) may connect; connect(2) needs write permission.
      assert.deepEqual(b.admin.address, { pipe: { path: "/run/envoy-admin/admin.sock", mode: 0o600 } }, name);
      // The gateway caps its connections (overload manager); its admin stays reachable past the cap.
      const adminExtras = name === "gateway" ? { ignore_global_conn_limit: true } : {};
      assert.deepEqual(
        b.admin,
        { address: b.admin.address, ...adminExtras },
        `${name}: admin has no other field`,
      );
      assert.doesNotMatch(JSON.stringify(b), /"port_value":9901/, `${name}: nothing binds or dials 9901`);
      // The socket's directory is a volume of its own: an emptyDir, mounted writable by Envoy and by no one else.
      const volume = pod.volumes.find((v: Json) => v.name === "envoy-admin");
      assert.deepEqual(
        volume,
        { name: "envoy-admin", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
        name,
      );
      const mounting = [...(pod.initContainers ?? []), ...pod.containers].filter((c: Json) =>
        (c.volumeMounts ?? []).some((m: Json) => m.name === "envoy-admin"),
      );
      assert.deepEqual(
        mounting.map((c: Json) => [c.name, c.securityContext.runAsUser]),
        [["envoy", 101]],
        `${name}: only the envoy container (uid 101) mounts the admin volume`,
      );
      const mount = mounting[0].volumeMounts.find((m: Json) => m.name === "envoy-admin");
      assert.deepEqual(mount, { name: "envoy-admin", mountPath: "/run/envoy-admin" }, name);
      // The kubelet's probe reaches admin through the readiness listener, whose only cluster dials the socket.
      const readiness = listener(b, "lds_readiness_");
      assert.equal(readiness.address.socket_address.port_value, 15021);
      const routes = readiness.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
      assert.deepEqual(
        routes.map((route: Json) => route.route),
        [{ cluster: "envoy_admin" }],
        `${name}: nothing but /ready is routed`,
      );
      const admin = clusterNamed(b, "envoy_admin");
      assert.equal(admin.type, "STATIC", "a pipe endpoint needs a STATIC cluster");
      assert.deepEqual(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address, {
        pipe: { path: "/run/envoy-admin/admin.sock" },
      });
    }
  });

  it("the kubelet's readiness listener routes exactly GET /ready", async () => {
    const b = await bootstrapOf("blue");
    const [route] = listener(b, "lds_readiness_").filter_chains[0].filters[0].typed_config.route_config
      .virtual_hosts[0].routes;
    // Only GET on exactly /ready (the :path header carries any query string), answered by Envoy's own readiness.
    assert.deepEqual(route.match, {
      path: "/ready",
      headers: [
        { name: ":method", string_match: { exact: "GET" } },
        { name: ":path", string_match: { exact: "/ready" } },
      ],
    });
  });

  it("every SDS secret waits for SPIRE without a timeout, so Envoy is not ready without its identity", async () => {
    const b = await bootstrapOf("green");
    const configs: Json[] = [];
    const walk = (v: Json): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object") {
        if (v.sds_config) configs.push(v.sds_config);
        Object.values(v).forEach(walk);
      }
    };
    walk(b);
    assert.ok(configs.length >= 2, `found ${configs.length} SDS configs`);
    assert.deepEqual(new Set(configs.map((c) => c.initial_fetch_timeout)), new Set(["0s"]));
  });

  it("every TLS context, client and server side, in every bootstrap allows TLS 1.2 and 1.3 only", async () => {
    const kinds = new Set<string>();
    for (const name of ["front", "blue", "green", "red"]) {
      // Walk every transport socket's TLS context, wherever it sits (listener chains, clusters).
      const visit = (node: Json): void => {
        if (node === null || typeof node !== "object") return;
        const type: string | undefined = node["@type"];
        if (type?.endsWith("TlsContext")) {
          kinds.add(type.split(".").pop() as string);
          assert.deepEqual(
            node.common_tls_context.tls_params,
            { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
            `${name}: ${type}`,
          );
        }
        for (const value of Object.values(node)) visit(value);
      };
      visit(await bootstrapOf(name));
    }
    assert.deepEqual([...kinds].sort(), ["DownstreamTlsContext", "UpstreamTlsContext"]);
  });

  it("every container of a meshed pod has requests, limits and the restricted security context", async () => {
    const r = await renderStack("dev");
    for (const name of ["front", "blue", "green", "red"]) {
      const pod = findObject(r, "Deployment", name, NS).spec.template.spec;
      assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" }, name);
      assert.equal(pod.securityContext.runAsNonRoot, true, name);
      for (const c of [...pod.initContainers, ...pod.containers]) {
        const where = `${name}/${c.name}`;
        for (const key of ["requests", "limits"])
          assert.deepEqual(
            Object.keys(c.resources?.[key] ?? {}).sort(),
            ["cpu", "memory"],
            `${where} ${key}`,
          );
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, where);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, where);
        assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] }, where);
      }
    }
  });

  it("requests exactly the SDS secrets SPIRE serves: the node's SPIFFE ID and the trust domain", async () => {
    assert.deepEqual(requestedSecretNames(await bootstrapOf("front")), [TD, `${TD}/front`]);
    assert.deepEqual(requestedSecretNames(await bootstrapOf("blue")), [TD, `${TD}/colorblue`]);
  });

  it("a bootstrap change rolls the pod; registering green changes no bootstrap", async () => {
    const hash = async (overrides: Record<string, string>) =>
      findObject(await renderStack("dev", overrides), "Deployment", "blue", NS).spec.template.metadata
        .annotations["spire-mesh.io/config-hash-envoy"];
    const base = await hash({});
    assert.equal(await hash({ registerGreen: "true" }), base);
    assert.notEqual(await hash({ trustDomain: "other.example" }), base);
  });

  it("PERMISSIVE: tls_inspector with a TLS chain and a plaintext chain", () => {
    const plan = meshNodePlan({
      name: "ledger",
      namespace: "ledger",
      podSelector: { app: "ledger" },
      trustDomain: "example.org",
      identity: "spiffe://example.org/ledger",
      tlsMode: TlsMode.Permissive,
      dataPlane: DataPlane.Envoy,
    });
    const ingress = listener(plan.envoy?.bootstrap, "lds_ingress_");
    assert.equal(ingress.listener_filters[0].name, "envoy.filters.listener.tls_inspector");
    assert.deepEqual(
      ingress.filter_chains.map((c: Json) => [
        c.filter_chain_match.transport_protocol,
        c.transport_socket !== undefined,
      ]),
      [
        ["tls", true],
        ["raw_buffer", false],
      ],
    );
  });
});
