/**
 * The local sidecar runs only bootstraps it fully models: every bootstrap the project runs on loopback is
 * accepted, and a field, list element, listener, cluster or value Envoy would act on but the sidecar does not
 * model is refused with its path, never silently ignored. And the Envoy behaviours it models, where they are
 * pure: route matching (a `path` match ignores the query string, a `:path` header match does not), the
 * filter chain a connection takes, health-check transitions and the panic threshold.
 */
import * as assert from "node:assert/strict";
import { type RoutePlan, sidecarPlan } from "../../local/bootstrapPlan";
import { balance, newHostHealth, recordCheck } from "../../local/sidecarHealth";
import { pickRoute, rewritten } from "../../local/sidecarRoutes";
import { DataPlane } from "../../mesh/envoySidecar";
import { type MeshNodeArgs, meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol, TlsMode, type VirtualNodeArgs } from "../../mesh/virtualNode";
import { kubernetesObjects, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are edited as plain JSON.
type Json = any;

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";

async function bootstraps(
  stack = "dev",
  overrides: Record<string, string> = {},
  project?: string,
): Promise<Record<string, Json>> {
  const objects = kubernetesObjects(await renderStack(stack, overrides, project));
  return Object.fromEntries(
    objects
      .filter((o) => o.kind === "ConfigMap" && o.data?.["bootstrap.json"])
      .map((o) => [o.metadata.name.replace(/-[0-9a-f]{10}$/, ""), JSON.parse(o.data["bootstrap.json"])]),
  );
}

/** A mesh node's bootstrap as protocols.test.ts and security.test.ts build them. */
function nodeBootstrap(args: Partial<MeshNodeArgs> & { name: string }): Json {
  return meshNodePlan({
    namespace: "proto",
    podSelector: { app: args.name },
    trustDomain: "howto-k8s-mtls-sds-based.aws",
    identity: `${TD}/${args.name}`,
    dataPlane: DataPlane.Envoy,
    ...args,
  } as MeshNodeArgs).envoy?.bootstrap;
}

const permissive = () => nodeBootstrap({ name: "ledger", tlsMode: TlsMode.Permissive });
const blue = async () => structuredClone((await bootstraps())["blue-envoy"]);
const front = async () => structuredClone((await bootstraps())["front-envoy"]);
const gateway = async () => structuredClone((await bootstraps("dev", { gateway: "true" }))["gateway-envoy"]);
const grpcNode = () =>
  nodeBootstrap({ name: "rpc", protocol: ListenerProtocol.Grpc, tlsMode: TlsMode.Permissive });
const hcm = (b: Json, prefix = "lds_ingress_") =>
  listener(b, prefix).filter_chains[0].filters[0].typed_config;

const listener = (b: Json, prefix: string) =>
  b.static_resources.listeners.find((l: Json) => l.name.startsWith(prefix));
const cluster = (b: Json, prefix: string) =>
  b.static_resources.clusters.find((c: Json) => c.name.startsWith(prefix));
const ingressTls = (b: Json) => listener(b, "lds_ingress_").filter_chains[0].transport_socket.typed_config;
const readinessRoutes = (b: Json) =>
  listener(b, "lds_readiness_").filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;

describe("local sidecar: the bootstrap fields it models", () => {
  it("accepts every bootstrap the project runs on loopback", async () => {
    const all: Record<string, Json> = {
      ...(await bootstraps()),
      ...(await bootstraps("dev", { gateway: "true" })),
      ...Object.fromEntries(
        Object.entries(await bootstraps("dev", { gateway: "true", gatewayCallers: `${TD}/front` })).map(
          ([k, v]) => [`strict-${k}`, v],
        ),
      ),
      ledger: permissive(),
    };
    for (const protocol of Object.values(ListenerProtocol)) {
      // As protocols.test.ts: a STRICT server admitting the client, and the client calling it.
      const server: VirtualNodeArgs = {
        name: `server-${protocol}`,
        namespace: "proto",
        podSelector: { app: `server-${protocol}` },
        trustDomain: "howto-k8s-mtls-sds-based.aws",
        identity: `${TD}/server-${protocol}`,
        protocol,
        tlsMode: TlsMode.Strict,
        allowedCallers: [`${TD}/client`],
      };
      all[`server-${protocol}`] = nodeBootstrap(server);
      all[`client-${protocol}`] = nodeBootstrap({
        name: "client",
        backends: [server.name],
        allowedServers: [server.identity as string],
        egress: [
          {
            virtualService: server.name,
            hostname: `${server.name}.proto.svc.cluster.local`,
            routes: [{ name: "all", target: server }],
          },
        ],
      });
    }
    // Floor: the dev stack's 4, the two gateway renders' 5 each (4 shared by name), ledger and 8 node variants.
    assert.ok(Object.keys(all).length >= 15, Object.keys(all).join());
    for (const [name, b] of Object.entries(all)) {
      assert.ok(b, `${name} rendered a bootstrap`);
      assert.ok(sidecarPlan(b).secrets.length >= 2, name);
    }
  });

  it("runs a gateway's bootstrap as Envoy alone: its listener routes into the mesh, with the rendered rewrites", async () => {
    const all = await bootstraps("dev", { gateway: "true" });
    const plan = sidecarPlan(all["gateway-envoy"]);
    assert.equal(plan.app, undefined, "no app behind a gateway");
    assert.deepEqual(plan.egress, []);
    const routes = plan.ingress.onPlaintext?.gateway?.routes ?? [];
    assert.deepEqual(
      routes.map((r) => [
        r.pathSeparatedPrefix,
        r.headers.map((h) => `${h.name}=${h.value}`).join(),
        r.prefixRewrite,
      ]),
      [
        ["/color", "color_header=blue", "/"],
        ["/color", "color_header=green", "/"],
        ["/color", "color_header=red", "/"],
      ],
    );
    // Each route's cluster is one the sidecar reaches over mTLS with exactly that colour's SAN.
    for (const r of routes) {
      const c = plan.clusters.find((x) => x.name === r.cluster);
      const color = r.headers[0].value;
      assert.deepEqual(c?.tls.allowedSans, [`spiffe://howto-k8s-mtls-sds-based.aws/color${color}`]);
      assert.equal(r.hostRewrite, "color.howto-k8s-mtls-sds-based.svc.cluster.local");
    }
  });

  // [what, which bootstrap, the edit, the refusal]
  const refusals: [string, () => Promise<Json> | Json, (b: Json) => void, RegExp][] = [
    [
      "a listener field",
      blue,
      (b) => {
        b.static_resources.listeners[0].per_connection_buffer_limit_bytes = 1024;
      },
      /bootstrap\.static_resources\.listeners\[0\]\.per_connection_buffer_limit_bytes is not modelled/,
    ],
    [
      "an HTTP connection manager option",
      blue,
      (b) => {
        // Trusting an address makes its requests internal: Envoy would obey their x-envoy-* headers.
        b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.internal_address_config = {
          cidr_ranges: [{ address_prefix: "127.0.0.0", prefix_len: 8 }],
        };
      },
      /filters\[0\]\.typed_config\.internal_address_config is not modelled/,
    ],
    [
      "an escaped-slash action it does not model (redirect)",
      gateway,
      (b) => {
        hcm(b).path_with_escaped_slashes_action = "UNESCAPE_AND_REDIRECT";
      },
      /path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT" is not modelled/,
    ],
    [
      "another router option (strict_check_headers)",
      gateway,
      (b) => {
        hcm(b).http_filters[0].typed_config.strict_check_headers = ["x-envoy-max-retries"];
      },
      /http_filters\[0\]\.typed_config\.strict_check_headers is not modelled/,
    ],
    [
      "a stream idle timeout that could fire before the header timeout",
      gateway,
      (b) => {
        hcm(b).stream_idle_timeout = "5s";
      },
      /stream_idle_timeout: "5s" must be longer than request_headers_timeout/,
    ],
    [
      "edge options on an HTTP/2 chain",
      grpcNode,
      (b) => {
        hcm(b).normalize_path = true;
      },
      /must keep Envoy's defaults on an HTTP\/2 chain/,
    ],
    [
      "connection manager options on the readiness listener",
      gateway,
      (b) => {
        hcm(b, "lds_readiness_").merge_slashes = true;
      },
      /must keep Envoy's defaults: the sidecar's readiness listener/,
    ],
    [
      "a path_separated_prefix ending in /",
      gateway,
      (b) => {
        hcm(b).route_config.virtual_hosts[0].routes[0].match = { path_separated_prefix: "/color/" };
      },
      /path_separated_prefix: "\/color\/" must have no \? or # and not end in \//,
    ],
    [
      "another resource monitor (fixed_heap)",
      gateway,
      (b) => {
        b.overload_manager.resource_monitors[0].name = "envoy.resource_monitors.fixed_heap";
      },
      /resource_monitors\[0\]\.name: "envoy.resource_monitors.fixed_heap" is not modelled/,
    ],
    [
      "overload actions",
      gateway,
      (b) => {
        b.overload_manager.actions = [{ name: "envoy.overload_actions.stop_accepting_requests" }];
      },
      /bootstrap\.overload_manager\.actions is not modelled/,
    ],
    [
      "a connection cap of 0",
      gateway,
      (b) => {
        b.overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections = "0";
      },
      /max_active_downstream_connections: "0" must be a positive integer/,
    ],
    [
      "a connection cap that would count the admin interface",
      gateway,
      (b) => {
        delete b.admin.ignore_global_conn_limit;
      },
      /bootstrap\.admin\.ignore_global_conn_limit: undefined must be true with a connection cap/,
    ],
    [
      "an HTTP filter of another type (CORS)",
      blue,
      (b) => {
        b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.unshift({
          name: "envoy.filters.http.cors",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors" },
        });
      },
      /http_filters\[0\]\.typed_config: @type type\.googleapis\.com\/envoy\.extensions\.filters\.http\.cors\.v3\.Cors is not modelled/,
    ],
    [
      "a TLS parameter (cipher suites)",
      blue,
      (b) => {
        ingressTls(b).common_tls_context.tls_params.cipher_suites = ["ECDHE-RSA-AES128-GCM-SHA256"];
      },
      /common_tls_context\.tls_params\.cipher_suites is not modelled/,
    ],
    [
      "a route action option (a regex rewrite)",
      blue,
      (b) => {
        readinessRoutes(b)[0].route.regex_rewrite = { pattern: { regex: "^/" }, substitution: "/ping" };
      },
      /routes\[0\]\.route\.regex_rewrite is not modelled/,
    ],
    [
      "a cluster outlier detection",
      blue,
      (b) => {
        b.static_resources.clusters[0].outlier_detection = { consecutive_5xx: 1 };
      },
      /clusters\[0\]\.outlier_detection is not modelled/,
    ],
    // san_type: only URI SANs are compared.
    [
      "a DNS SAN matcher (the sidecar compares URI SANs)",
      blue,
      (b) => {
        ingressTls(
          b,
        ).common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0].san_type =
          "DNS";
      },
      /match_typed_subject_alt_names\[0\]\.san_type: "DNS" is not modelled by the local sidecar \(it models "URI"\)/,
    ],
    // Chains: transport_protocol needs tls_inspector; a chain no connection can take is refused.
    [
      "a transport_protocol match without tls_inspector",
      permissive,
      (b) => {
        delete listener(b, "lds_ingress_").listener_filters;
      },
      /filter_chains\[0\]\.filter_chain_match\.transport_protocol: "tls" needs the tls_inspector listener filter/,
    ],
    [
      "two chains with the same match",
      permissive,
      (b) => {
        listener(b, "lds_ingress_").filter_chains[1].filter_chain_match.transport_protocol = "tls";
      },
      /filter_chains\[1\]\.filter_chain_match: \{"transport_protocol":"tls"\} repeats the match of filter_chains\[0\]/,
    ],
    [
      "a chain no connection takes",
      permissive,
      (b) => {
        const chains = listener(b, "lds_ingress_").filter_chains;
        chains.push({ filters: structuredClone(chains[1].filters) });
      },
      /filter_chains\[2\]: \{\} is never chosen/,
    ],
    [
      "a transport_protocol Envoy's inspector never sets",
      permissive,
      (b) => {
        listener(b, "lds_ingress_").filter_chains[1].filter_chain_match.transport_protocol = "quic";
      },
      /transport_protocol: "quic" is not modelled/,
    ],
    [
      "a plaintext chain to another cluster than the TLS chain's app",
      permissive,
      (b) => {
        const chains = listener(b, "lds_ingress_").filter_chains;
        chains[1].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster =
          "envoy_admin";
      },
      /route\.cluster: "\S+" must be the app cluster the other chain uses/,
    ],
    // Every element of every list is read or refused.
    [
      "a second virtual host",
      blue,
      (b) => {
        const rc = listener(b, "lds_ingress_").filter_chains[0].filters[0].typed_config.route_config;
        rc.virtual_hosts.push({ ...structuredClone(rc.virtual_hosts[0]), name: "other", domains: ["other"] });
      },
      /route_config\.virtual_hosts: 2 elements; the local sidecar models exactly one/,
    ],
    [
      "a second network filter in a chain",
      blue,
      (b) => {
        const chain = listener(b, "lds_ingress_").filter_chains[0];
        chain.filters.push(structuredClone(chain.filters[0]));
      },
      /filter_chains\[0\]\.filters\[0\]: "envoy\.filters\.network\.http_connection_manager" must be network RBAC before tcp_proxy/,
    ],
    [
      "a second lb_endpoint",
      front,
      (b) => {
        const eps = cluster(b, "cds_egress_").load_assignment.endpoints[0].lb_endpoints;
        eps.push(structuredClone(eps[0]));
      },
      /load_assignment\.endpoints\[0\]\.lb_endpoints: 2 elements/,
    ],
    [
      "a second locality",
      front,
      (b) => {
        const eps = cluster(b, "cds_egress_").load_assignment.endpoints;
        eps.push(structuredClone(eps[0]));
      },
      /load_assignment\.endpoints: 2 elements/,
    ],
    [
      "a second health check",
      front,
      (b) => {
        const hcs = cluster(b, "cds_egress_").health_checks;
        hcs.push({ ...structuredClone(hcs[0]), http_health_check: { path: "/other" } });
      },
      /health_checks: 2 elements/,
    ],
    [
      "a second certificate",
      blue,
      (b) => {
        const certs = ingressTls(b).common_tls_context.tls_certificate_sds_secret_configs;
        certs.push({ ...structuredClone(certs[0]), name: "other" });
      },
      /tls_certificate_sds_secret_configs: 2 elements/,
    ],
    [
      "a second SDS gRPC service",
      blue,
      (b) => {
        const grpc =
          ingressTls(b).common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.api_config_source
            .grpc_services;
        grpc.push(structuredClone(grpc[0]));
      },
      /grpc_services: 2 elements/,
    ],
    // Listeners: only the three kinds, one ingress and one readiness.
    [
      "a listener of another name (an extra plaintext listener)",
      blue,
      (b) => {
        const extra = structuredClone(listener(b, "lds_readiness_"));
        extra.name = "debug";
        extra.address.socket_address.port_value = 15022;
        b.static_resources.listeners.push(extra);
      },
      /listeners\[2\]\.name: "debug" is not an lds_ingress_\*, lds_egress_\* or lds_readiness_\* listener/,
    ],
    [
      "a renamed ingress listener",
      blue,
      (b) => {
        listener(b, "lds_ingress_").name = "ingress";
      },
      /listeners\[0\]\.name: "ingress" is not an lds_ingress_\*/,
    ],
    [
      "a second ingress listener",
      blue,
      (b) => {
        const extra = structuredClone(listener(b, "lds_ingress_"));
        extra.name = "lds_ingress_0.0.0.0_15001";
        extra.address.socket_address.port_value = 15001;
        b.static_resources.listeners.push(extra);
      },
      /must hold exactly one lds_ingress_\* listener/,
    ],
    [
      "a second readiness listener",
      blue,
      (b) => {
        const extra = structuredClone(listener(b, "lds_readiness_"));
        extra.name = "lds_readiness_0.0.0.0_15022";
        extra.address.socket_address.port_value = 15022;
        b.static_resources.listeners.push(extra);
      },
      /must hold exactly one lds_readiness_\* listener/,
    ],
    // Exact values where one is modelled, and references that must hold.
    [
      "a readiness route to the app instead of the admin interface",
      blue,
      (b) => {
        readinessRoutes(b)[0].route.cluster = cluster(b, "cds_ingress_").name;
      },
      /routes\[0\]\.route\.cluster: "cds_ingress_\S+" must be the admin interface \(pipe \/run\/envoy-admin\/admin\.sock\)/,
    ],
    [
      "an SDS config naming another cluster",
      blue,
      (b) => {
        ingressTls(
          b,
        ).common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name =
          "envoy_admin";
      },
      /bootstrap SDS configs: \["envoy_admin","static_cluster_sds_unix_socket"\] must all name one SDS cluster/,
    ],
    [
      "an SDS config naming no cluster",
      blue,
      (b) => {
        ingressTls(
          b,
        ).common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name =
          "nowhere";
      },
      /envoy_grpc\.cluster_name: "nowhere" names no cluster/,
    ],
    [
      "an EDS cluster",
      front,
      (b) => {
        cluster(b, "cds_egress_").type = "EDS";
      },
      /clusters\[3\]\.type: "EDS" is not modelled by the local sidecar \(it models "STATIC", "STRICT_DNS"\)/,
    ],
    [
      "a connect_timeout that is no duration",
      front,
      (b) => {
        cluster(b, "cds_egress_").connect_timeout = "soon";
      },
      /connect_timeout: "soon" must be a duration in seconds/,
    ],
    [
      "an initial_fetch_timeout that lets Envoy go live without its secrets",
      blue,
      (b) => {
        ingressTls(
          b,
        ).common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.initial_fetch_timeout = "15s";
      },
      /initial_fetch_timeout: "15s" is not modelled by the local sidecar \(it models "0s"\)/,
    ],
    [
      "an ingress bound to loopback only",
      blue,
      (b) => {
        listener(b, "lds_ingress_").address.socket_address.address = "127.0.0.1";
      },
      /listeners\[0\]\.address\.socket_address\.address: "127\.0\.0\.1" must be 0\.0\.0\.0/,
    ],
    [
      "an egress listener open to the pod network",
      front,
      (b) => {
        listener(b, "lds_egress_").address.socket_address.address = "0.0.0.0";
      },
      /listeners\[1\]\.address\.socket_address\.address: "0\.0\.0\.0" must be a 127\.0\.0\.0\/8 address/,
    ],
    [
      "an admin interface on a TCP port, even loopback's (every container of the pod shares it)",
      blue,
      (b) => {
        b.admin.address = { socket_address: { address: "127.0.0.1", port_value: 9901 } };
      },
      /bootstrap\.admin\.address: \{"socket_address":\{"address":"127\.0\.0\.1","port_value":9901\}\} must be a pipe \(a Unix socket\)/,
    ],
    [
      "an admin interface on an abstract socket (open to the whole network namespace)",
      blue,
      (b) => {
        b.admin.address.pipe.path = "@envoy-admin";
      },
      /bootstrap\.admin\.address\.pipe\.path: "@envoy-admin" must be an absolute file path/,
    ],
    [
      "an admin socket without a mode (its permissions would be the umask's)",
      blue,
      (b) => {
        delete b.admin.address.pipe.mode;
      },
      /bootstrap\.admin\.address\.pipe\.mode: undefined must be a mode in 1-0777/,
    ],
    [
      "a readiness route to a TCP admin cluster while admin is on its socket",
      blue,
      (b) => {
        cluster(b, "envoy_admin").load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = {
          socket_address: { address: "127.0.0.1", port_value: 9901 },
        };
      },
      /routes\[0\]\.route\.cluster: "envoy_admin" must be the admin interface \(pipe \/run\/envoy-admin\/admin\.sock\)/,
    ],
    [
      "an app cluster off the pod's loopback",
      blue,
      (b) => {
        cluster(
          b,
          "cds_ingress_",
        ).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = "10.0.0.7";
      },
      /"10\.0\.0\.7" must be 127\.0\.0\.1: the app in the pod/,
    ],
    [
      "a cluster nothing uses that is not a mesh cluster",
      blue,
      (b) => {
        b.static_resources.clusters.push({ ...structuredClone(cluster(b, "envoy_admin")), name: "spare" });
      },
      /clusters\[3\]: "spare" is used by nothing the sidecar models/,
    ],
    [
      "a panic threshold that is no percentage",
      front,
      (b) => {
        cluster(b, "cds_egress_").common_lb_config = { healthy_panic_threshold: { value: 150 } };
      },
      /healthy_panic_threshold\.value: 150 must be a percentage/,
    ],
    // The allow-list's lookups are own properties only: Object.prototype's names are no modelled field.
    [
      "a field named like an Object.prototype member",
      blue,
      (b) => {
        b.static_resources.listeners[0].constructor = {};
      },
      /listeners\[0\]\.constructor is not modelled/,
    ],
    [
      "an @type named like an Object.prototype member",
      blue,
      (b) => {
        ingressTls(b)["@type"] = "toString";
      },
      /transport_socket\.typed_config: @type toString is not modelled/,
    ],
  ];
  for (const [what, source, edit, message] of refusals) {
    it(`refuses ${what}, naming its path`, async () => {
      const b = structuredClone(await source());
      assert.doesNotThrow(() => sidecarPlan(structuredClone(b)), "the unedited bootstrap is accepted");
      edit(b);
      assert.throws(() => sidecarPlan(b), message);
    });
  }

  it("reads each ingress chain on its own: tls_inspector's TLS to the TLS chain, the rest to the plaintext chain and its own filter", () => {
    const plan = sidecarPlan(permissive());
    assert.equal(plan.ingress.tlsInspector, true);
    assert.equal(plan.ingress.onTls?.index, 0);
    assert.ok(plan.ingress.onTls?.tls, "the TLS chain terminates TLS");
    assert.equal(plan.ingress.onPlaintext?.index, 1);
    assert.equal(plan.ingress.onPlaintext?.tls, undefined);
    assert.equal(plan.ingress.onPlaintext?.protocol, "http1");
    // The plaintext chain's own filter decides its protocol: made tcp_proxy, it is TCP, the TLS chain still HTTP.
    const b = permissive();
    const chains = listener(b, "lds_ingress_").filter_chains;
    chains[1].filters[0] = {
      name: "envoy.filters.network.tcp_proxy",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        stat_prefix: "ingress_plaintext",
        cluster: cluster(b, "cds_ingress_").name,
      },
    };
    const edited = sidecarPlan(b);
    assert.deepEqual(
      [edited.ingress.onTls?.protocol, edited.ingress.onPlaintext?.protocol],
      ["http1", "tcp"],
    );
    // STRICT has no inspector: every connection takes its one chain, which is TLS.
    const strict = sidecarPlan(
      nodeBootstrap({ name: "s", tlsMode: TlsMode.Strict, allowedCallers: [`${TD}/x`] }),
    );
    assert.equal(strict.ingress.tlsInspector, false);
    assert.equal(strict.ingress.onTls, undefined);
    assert.ok(strict.ingress.onPlaintext?.tls && strict.ingress.onPlaintext.requireClientCertificate);
  });

  it("reads the panic threshold (Envoy's 50% by default) and TLS defaults per direction", async () => {
    const b = await front();
    const name = cluster(b, "cds_egress_").name;
    assert.equal(sidecarPlan(b).clusters.find((c) => c.name === name)?.healthyPanicThresholdPercent, 50);
    cluster(b, "cds_egress_").common_lb_config = { healthy_panic_threshold: { value: 0 } };
    delete cluster(b, "cds_egress_").transport_socket.typed_config.common_tls_context.tls_params;
    const c = sidecarPlan(b).clusters.find((x) => x.name === name);
    assert.equal(c?.healthyPanicThresholdPercent, 0);
    // Envoy as a client defaults to TLS 1.2 at most (1.3 as a server).
    assert.deepEqual([c?.tls.minVersion, c?.tls.maxVersion], ["TLSv1_2", "TLSv1_2"]);
  });
});

describe("local sidecar: Envoy's routing, health and panic rules", () => {
  const request = (p: string, method = "GET") => ({
    host: "10.1.2.3:15021",
    method,
    path: p,
    header: () => undefined,
  });

  it("a gateway's path_separated_prefix takes /color, /color/... and /color?q, never /colorX; its rewrite keeps what follows", async () => {
    const host = sidecarPlan(await gateway()).ingress.onPlaintext?.gateway;
    assert.ok(host);
    const blueRequest = (p: string) => ({
      host: "gateway",
      method: "GET",
      path: p,
      header: (h: string) => (h === "color_header" ? "blue" : undefined),
    });
    for (const p of ["/color", "/color/", "/color/x", "/color?q=1"]) {
      assert.equal(pickRoute(host, blueRequest(p))?.pathSeparatedPrefix, "/color", p);
    }
    for (const p of ["/colorX", "/colors/x", "/", "/Color"]) {
      assert.equal(pickRoute(host, blueRequest(p)), undefined, p);
    }
    const route = pickRoute(host, blueRequest("/color")) as RoutePlan;
    assert.deepEqual(
      ["/color", "/color?q=1"].map((p) => rewritten(route, p, "gateway").path),
      ["/", "/?q=1"],
    );
  });

  it("the rendered readiness route takes exactly GET /ready: its :path header match keeps the query string", async () => {
    const plan = sidecarPlan(await blue());
    assert.ok(pickRoute(plan.readiness, request("/ready")));
    for (const [p, method] of [
      ["/ready?x=1", "GET"],
      ["/ready", "POST"],
      ["/readyz", "GET"],
      ["/", "GET"],
    ]) {
      assert.equal(pickRoute(plan.readiness, request(p, method)), undefined, `${method} ${p}`);
    }
  });

  it("a `path` match alone ignores the query string, as Envoy's: without the :path header, /ready?x=1 is routed", async () => {
    const b = await blue();
    const route = readinessRoutes(b)[0];
    route.match.headers = route.match.headers.filter((h: Json) => h.name !== ":path");
    const plan = sidecarPlan(b);
    assert.ok(pickRoute(plan.readiness, request("/ready?x=1")));
    assert.ok(pickRoute(plan.readiness, request("/ready#top")));
    assert.equal(pickRoute(plan.readiness, request("/ready/x")), undefined);
  });

  it("a second readiness route is read, not dropped: a catch-all to the admin takes /stats", async () => {
    const b = await blue();
    readinessRoutes(b).push({ match: { prefix: "/" }, route: { cluster: "envoy_admin" } });
    const plan = sidecarPlan(b);
    assert.equal(plan.readiness.routes.length, 2);
    assert.ok(pickRoute(plan.readiness, request("/stats")));
  });

  it("health: the first success marks a host healthy; then unhealthy answers count at once, network failures by threshold", () => {
    const hc = {
      kind: "http" as const,
      http2: false,
      timeoutMs: 1000,
      intervalMs: 1000,
      healthyThreshold: 3,
      unhealthyThreshold: 2,
    };
    const h = newHostHealth();
    assert.equal(h.healthy, false, "a host starts unhealthy");
    recordCheck(h, "success", hc);
    assert.equal(h.healthy, true, "one success at startup suffices");
    recordCheck(h, "network_failure", hc);
    assert.equal(h.healthy, true, "one network failure of two");
    recordCheck(h, "network_failure", hc);
    assert.equal(h.healthy, false, "two network failures");
    recordCheck(h, "success", hc);
    recordCheck(h, "success", hc);
    assert.equal(h.healthy, false, "after startup it takes healthy_threshold successes");
    recordCheck(h, "success", hc);
    assert.equal(h.healthy, true);
    recordCheck(h, "active_failure", hc);
    assert.equal(h.healthy, false, "a non-200 answer marks it unhealthy at once");
    const failedFirst = newHostHealth();
    recordCheck(failedFirst, "network_failure", hc);
    recordCheck(failedFirst, "success", hc);
    assert.equal(failedFirst.healthy, false, "a failed first check ends the startup shortcut");
  });

  it("panic: an unhealthy single endpoint still takes traffic below a threshold above 0%, and none at 0%", () => {
    const unhealthy = newHostHealth();
    const healthy = { ...newHostHealth(), healthy: true };
    assert.equal(balance(undefined, 50), "healthy", "no health check: always a host");
    assert.equal(balance(healthy, 100), "healthy");
    assert.equal(balance(unhealthy, 50), "panic");
    assert.equal(balance(unhealthy, 1), "panic");
    assert.equal(balance(unhealthy, 0), "none");
  });
});
