/**
 * Envoy v3 bootstraps with App Mesh's mTLS semantics, for the self-managed data plane. Names follow App Mesh
 * (cds_ingress_/cds_egress_ clusters, static_cluster_sds_unix_socket, a listener on 0.0.0.0:15000) so the
 * walkthrough's /clusters and /stats greps read the same. Output is canonical proto3 JSON (snake_case, lists,
 * UPPER_CASE enums, "1s" durations) that strict parsers accept. Pure: no Pulumi.
 */
import { ListenerProtocol, TlsMode, type VirtualNodeSpec, validationSecret } from "./virtualNode";

export const SDS_CLUSTER = "static_cluster_sds_unix_socket";

export interface EnvoyPorts {
  /** Mesh traffic into the pod (App Mesh's ingress port). */
  readonly ingress: number;
  /** Admin interface, bound to loopback only. */
  readonly admin: number;
  /** Plaintext listener the kubelet's readiness probe calls. */
  readonly readiness: number;
}

export const envoyPorts: EnvoyPorts = { ingress: 15000, admin: 9901, readiness: 15021 };

export interface EgressRoute {
  /** Route name, e.g. color-route-blue. */
  readonly name: string;
  /** Header match; none routes everything (the last route only). */
  readonly header?: string;
  readonly value?: string;
  /** The target virtual node. */
  readonly target: VirtualNodeSpec;
}

/** One virtual service a node calls: where the app reaches it, and the router's routes in priority order. */
export interface EgressService {
  readonly virtualService: string;
  /** Host name the app dials; the pod maps it to `listenAddress` (hostAliases). */
  readonly hostname: string;
  readonly port: number;
  /** A loopback address of its own, so it never collides with the app's port on 127.0.0.1. */
  readonly listenAddress: string;
  readonly routes: readonly EgressRoute[];
}

export interface BootstrapInput {
  readonly meshName: string;
  readonly node: VirtualNodeSpec;
  readonly egress: readonly EgressService[];
  readonly sdsSocketPath: string;
  readonly ports: EnvoyPorts;
}

const t = {
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  downstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  upstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  tlsInspector: "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
  httpOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  tcpProxy: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
};

/** HTTP/2 on the wire: gRPC always is, http2 by definition. */
export const usesHttp2 = (p: ListenerProtocol) => p === ListenerProtocol.Http2 || p === ListenerProtocol.Grpc;

/** TLS 1.2 and 1.3 only, on every mTLS hop. */
const tlsParams = { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" };

/** Envoy talks HTTP/2 to a cluster whose listener speaks it (gRPC needs it end to end). */
const http2Upstream = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

/** App Mesh's virtual node name as the controller made it: `<k8s name>_<namespace>`. */
const awsName = (n: VirtualNodeSpec) => `${n.name}_${n.namespace}`;
export const ingressCluster = (mesh: string, n: VirtualNodeSpec) =>
  `cds_ingress_${mesh}_${awsName(n)}_${n.protocol}_${n.port}`;
export const egressCluster = (mesh: string, n: VirtualNodeSpec) =>
  `cds_egress_${mesh}_${awsName(n)}_${n.protocol}_${n.port}`;

const seconds = (ms: number) => `${ms / 1000}s`;

const socketAddress = (address: string, port: number) => ({ socket_address: { address, port_value: port } });

const sdsSecret = (name: string) => ({
  name,
  sds_config: {
    // Wait for the SVID and bundle however long it takes: Envoy stays initializing (and not ready) until
    // SPIRE has delivered them, instead of going live without its identity after the default 15 s.
    initial_fetch_timeout: "0s",
    resource_api_version: "V3",
    api_config_source: {
      api_type: "GRPC",
      transport_api_version: "V3",
      grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
    },
  },
});

/** Own SVID and the trust bundle over SDS, plus an exact URI SAN list when peers are restricted. */
function commonTls(
  identity: string,
  trustSecret: string,
  peers: readonly string[],
  alpn: readonly string[] = [],
) {
  return {
    tls_params: tlsParams,
    ...(alpn.length > 0 ? { alpn_protocols: [...alpn] } : {}),
    tls_certificate_sds_secret_configs: [sdsSecret(identity)],
    ...(peers.length > 0
      ? {
          combined_validation_context: {
            default_validation_context: {
              match_typed_subject_alt_names: peers.map((exact) => ({ san_type: "URI", matcher: { exact } })),
            },
            validation_context_sds_secret_config: sdsSecret(trustSecret),
          },
        }
      : { validation_context_sds_secret_config: sdsSecret(trustSecret) }),
  };
}

const router = { name: "envoy.filters.http.router", typed_config: { "@type": t.router } };

function httpConnectionManager(statPrefix: string, routeConfig: object) {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": t.hcm,
      stat_prefix: statPrefix,
      route_config: routeConfig,
      http_filters: [router],
    },
  };
}

function staticCluster(name: string, address: object, extra: object = {}) {
  return {
    name,
    type: "STATIC",
    connect_timeout: "1s",
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
    ...extra,
  };
}

/** The network filter that carries a listener's protocol: tcp_proxy for tcp, else an HTTP connection manager. */
function protocolFilter(
  protocol: ListenerProtocol,
  statPrefix: string,
  cluster: string,
  routeConfig: () => object,
) {
  if (protocol === ListenerProtocol.Tcp) {
    return {
      name: "envoy.filters.network.tcp_proxy",
      typed_config: { "@type": t.tcpProxy, stat_prefix: statPrefix, cluster },
    };
  }
  return httpConnectionManager(statPrefix, routeConfig());
}

function ingressListener(b: BootstrapInput, appCluster: string) {
  const n = b.node;
  const filter = (prefix: string) =>
    protocolFilter(n.protocol, prefix, appCluster, () => ({
      name: `rds_ingress_${n.protocol}_${n.port}`,
      virtual_hosts: [
        {
          name: awsName(n),
          domains: ["*"],
          routes: [{ match: { prefix: "/" }, route: { cluster: appCluster } }],
        },
      ],
    }));
  const tlsSocket = () => ({
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": t.downstreamTls,
      // STRICT demands a client certificate whose SAN is on the list (PERMISSIVE cannot have callers).
      require_client_certificate: n.allowedCallers.length > 0,
      common_tls_context: commonTls(
        n.identity as string,
        validationSecret(n),
        n.allowedCallers,
        usesHttp2(n.protocol) ? ["h2"] : [],
      ),
    },
  });
  let filterChains: object[];
  let listenerFilters: object[] = [];
  if (n.tlsMode === TlsMode.Strict) {
    filterChains = [{ transport_socket: tlsSocket(), filters: [filter("ingress_mtls")] }];
  } else if (n.tlsMode === TlsMode.Permissive) {
    listenerFilters = [
      { name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": t.tlsInspector } },
    ];
    filterChains = [
      {
        filter_chain_match: { transport_protocol: "tls" },
        transport_socket: tlsSocket(),
        filters: [filter("ingress_mtls")],
      },
      { filter_chain_match: { transport_protocol: "raw_buffer" }, filters: [filter("ingress_plaintext")] },
    ];
  } else {
    filterChains = [{ filters: [filter("ingress_plaintext")] }];
  }
  return {
    name: `lds_ingress_0.0.0.0_${b.ports.ingress}`,
    address: socketAddress("0.0.0.0", b.ports.ingress),
    ...(listenerFilters.length > 0 ? { listener_filters: listenerFilters } : {}),
    filter_chains: filterChains,
  };
}

/** Active health checks the way App Mesh ran them: the target's own check, over the cluster's mTLS socket. */
function healthChecks(target: VirtualNodeSpec) {
  const hc = target.healthCheck;
  const common = {
    timeout: seconds(hc.timeoutMillis),
    interval: seconds(hc.intervalMillis),
    healthy_threshold: hc.healthyThreshold,
    unhealthy_threshold: hc.unhealthyThreshold,
  };
  if (target.protocol === ListenerProtocol.Tcp) return [{ ...common, tcp_health_check: {} }];
  // gRPC targets answer the standard grpc.health.v1 check; http2 ones the HTTP path, over HTTP/2.
  if (target.protocol === ListenerProtocol.Grpc) return [{ ...common, grpc_health_check: {} }];
  return [
    {
      ...common,
      http_health_check: {
        path: hc.path,
        ...(usesHttp2(target.protocol) ? { codec_client_type: "HTTP2" } : {}),
      },
    },
  ];
}

function egressClusterFor(b: BootstrapInput, target: VirtualNodeSpec) {
  const name = egressCluster(b.meshName, target);
  return {
    name,
    type: "STRICT_DNS",
    connect_timeout: "1s",
    dns_lookup_family: "V4_ONLY",
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(target.hostname, target.port) } }] }],
    },
    transport_socket: {
      name: "envoy.transport_sockets.tls",
      typed_config: {
        "@type": t.upstreamTls,
        // Each backend has its own SAN check: exactly the identity of the node behind it.
        common_tls_context: commonTls(
          b.node.identity as string,
          validationSecret(b.node),
          [target.identity as string],
          usesHttp2(target.protocol) ? ["h2"] : [],
        ),
      },
    },
    health_checks: healthChecks(target),
    ...(usesHttp2(target.protocol) ? http2Upstream : {}),
  };
}

function egressListener(b: BootstrapInput, e: EgressService) {
  const protocol = e.routes[0].target.protocol;
  const statPrefix = `egress_${e.virtualService}_${e.port}`;
  return {
    name: `lds_egress_${e.listenAddress}_${e.port}`,
    address: socketAddress(e.listenAddress, e.port),
    filter_chains: [
      {
        filters: [
          protocolFilter(protocol, statPrefix, egressCluster(b.meshName, e.routes[0].target), () => ({
            name: `rds_egress_${e.virtualService}_${e.port}`,
            virtual_hosts: [
              {
                name: e.virtualService,
                domains: [e.hostname, `${e.hostname}:${e.port}`],
                // First match wins, so routes are listed in router priority order. No match answers 404.
                routes: e.routes.map((r) => ({
                  name: r.name,
                  match: {
                    prefix: "/",
                    ...(r.header ? { headers: [{ name: r.header, string_match: { exact: r.value } }] } : {}),
                  },
                  route: { cluster: egressCluster(b.meshName, r.target) },
                })),
              },
            ],
          })),
        ],
      },
    ],
  };
}

/** Envoy's own admin interface; only the readiness listener routes to it, and only its /ready. */
export const ADMIN_CLUSTER = "envoy_admin";

/**
 * Plaintext, for the kubelet only: exactly `GET /ready` (no query string, any other method or path is a 404)
 * answers with Envoy's own readiness, which is LIVE only once initialization is done, that is once SDS has
 * delivered the SVID and the bundle (initial_fetch_timeout 0s). An unregistered workload stays NotReady.
 */
function readinessListener(b: BootstrapInput) {
  return {
    name: `lds_readiness_0.0.0.0_${b.ports.readiness}`,
    address: socketAddress("0.0.0.0", b.ports.readiness),
    filter_chains: [
      {
        filters: [
          httpConnectionManager("readiness", {
            name: "rds_readiness",
            virtual_hosts: [
              {
                name: "readiness",
                domains: ["*"],
                routes: [
                  {
                    // `path` ignores the query string; the :path header keeps it, so it must be exactly /ready.
                    match: {
                      path: "/ready",
                      headers: [
                        { name: ":method", string_match: { exact: "GET" } },
                        { name: ":path", string_match: { exact: "/ready" } },
                      ],
                    },
                    route: { cluster: ADMIN_CLUSTER },
                  },
                ],
              },
            ],
          }),
        ],
      },
    ],
  };
}

export function envoyBootstrap(b: BootstrapInput): Record<string, unknown> {
  const n = b.node;
  const appCluster = ingressCluster(b.meshName, n);
  const targets = new Map(b.egress.flatMap((e) => e.routes.map((r) => [r.target.name, r.target] as const)));
  return {
    node: {
      id: `${n.name}.${n.namespace}`,
      cluster: b.meshName,
      // Within one trust domain: plain X.509 chain validation against the bundle, as App Mesh did. Federated:
      // SPIRE's SPIFFE validator, which checks each peer against its own domain's bundle; the agent serves the
      // ALL secret only with it (and answers an error to an Envoy that disables it).
      metadata: { disable_spiffe_cert_validation: n.federatesWith.length === 0 },
    },
    admin: { address: socketAddress("127.0.0.1", b.ports.admin) },
    static_resources: {
      listeners: [
        ingressListener(b, appCluster),
        ...b.egress.map((e) => egressListener(b, e)),
        readinessListener(b),
      ],
      clusters: [
        staticCluster(
          SDS_CLUSTER,
          { pipe: { path: b.sdsSocketPath } },
          {
            typed_extension_protocol_options: {
              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": t.httpOptions,
                explicit_http_config: { http2_protocol_options: {} },
              },
            },
          },
        ),
        staticCluster(
          appCluster,
          socketAddress("127.0.0.1", n.port),
          usesHttp2(n.protocol) ? http2Upstream : {},
        ),
        staticCluster(ADMIN_CLUSTER, socketAddress("127.0.0.1", b.ports.admin)),
        ...[...targets.values()].map((target) => egressClusterFor(b, target)),
      ],
    },
  };
}

/** The SDS secret names a bootstrap requests: what SPIRE must be able to serve this workload. */
export function requestedSecretNames(bootstrap: unknown): string[] {
  const names = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
    } else if (value !== null && typeof value === "object") {
      const o = value as Record<string, unknown>;
      if (typeof o.name === "string" && "sds_config" in o) names.add(o.name);
      for (const v of Object.values(o)) walk(v);
    }
  };
  walk(bootstrap);
  return [...names].sort();
}
