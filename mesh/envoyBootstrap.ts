/**
 * Envoy v3 bootstraps with App Mesh's mTLS semantics, for the self-managed data plane. Names follow App Mesh
 * (cds_ingress_/cds_egress_ clusters, static_cluster_sds_unix_socket, a listener on 0.0.0.0:15000) so the
 * walkthrough's /clusters and /stats greps read the same. Output is canonical proto3 JSON (snake_case, lists,
 * UPPER_CASE enums, "1s" durations) that strict parsers accept. Pure: no Pulumi.
 */
import { type Authorization, rbacHttpFilter, rbacNetworkFilter } from "./authorization";
import { ListenerProtocol, TlsMode, type VirtualNodeSpec, validationSecret } from "./virtualNode";

export const SDS_CLUSTER = "static_cluster_sds_unix_socket";

export interface EnvoyPorts {
  /** Mesh traffic into the pod (App Mesh's ingress port). */
  readonly ingress: number;
  /** Plaintext listener the kubelet's readiness probe calls. */
  readonly readiness: number;
}

/** Envoy's only TCP ports in the pod; its admin interface has none (ENVOY_ADMIN). */
export const envoyPorts: EnvoyPorts = { ingress: 15000, readiness: 15021 };

/**
 * Envoy's admin interface (/quitquitquit, /runtime_modify, /config_dump, ...) is a Unix socket, never a TCP port:
 * every container of a pod shares its loopback, so a port on 127.0.0.1 is open to the app. The socket lives in a
 * volume only the Envoy container mounts, and its mode lets only Envoy's uid connect (connect(2) needs write
 * permission on the socket file). Envoy chmods the socket right after binding it.
 */
export const ENVOY_ADMIN = {
  /** The pod volume (an emptyDir) that holds the socket; no other container may mount it. */
  volume: "envoy-admin",
  dir: "/run/envoy-admin",
  socket: "/run/envoy-admin/admin.sock",
  mode: 0o600,
} as const;

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
      "@type": t.httpOptions,
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

export const socketAddress = (address: string, port: number) => ({
  socket_address: { address, port_value: port },
});

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
export function commonTls(
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

/** An HTTP connection manager's own options and its router's, beyond the route table (an edge's hardening). */
export interface HttpOptions {
  readonly connectionManager?: Record<string, unknown>;
  readonly router?: Record<string, unknown>;
  /** HTTP filters that run before the router (authorization). */
  readonly filters?: readonly object[];
}

export function httpConnectionManager(statPrefix: string, routeConfig: object, options: HttpOptions = {}) {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": t.hcm,
      stat_prefix: statPrefix,
      ...options.connectionManager,
      route_config: routeConfig,
      http_filters: [
        ...(options.filters ?? []),
        { name: "envoy.filters.http.router", typed_config: { "@type": t.router, ...options.router } },
      ],
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

/**
 * The network filters that carry a listener's protocol: tcp_proxy for tcp, else an HTTP connection manager;
 * with authorization, its RBAC filter first (network RBAC before tcp_proxy, HTTP RBAC before the router).
 */
function protocolFilters(
  protocol: ListenerProtocol,
  statPrefix: string,
  cluster: string,
  routeConfig: () => object,
  authorization?: Authorization,
): object[] {
  if (protocol === ListenerProtocol.Tcp) {
    return [
      ...(authorization ? [rbacNetworkFilter(authorization, statPrefix)] : []),
      {
        name: "envoy.filters.network.tcp_proxy",
        typed_config: { "@type": t.tcpProxy, stat_prefix: statPrefix, cluster },
      },
    ];
  }
  const filters = authorization ? [rbacHttpFilter(authorization)] : [];
  return [httpConnectionManager(statPrefix, routeConfig(), { filters })];
}

/** A certificate from files (a mounted Kubernetes Secret) for clients outside the mesh, which have no SVID. */
export interface EdgeCertificate {
  readonly certificateChain: string;
  readonly privateKey: string;
  /** The Secret's mount: the kubelet swaps its `..data` link on renewal, which makes Envoy reload both files. */
  readonly watchedDirectory: string;
}

/** Who a downstream listener lets in, and with which certificate. */
export interface DownstreamTls {
  /** STRICT, PERMISSIVE, or unset/DISABLED: plaintext. */
  readonly mode?: TlsMode;
  /** The listener's SVID (SDS secret name); unused with an edge certificate. */
  readonly identity?: string;
  /** The SDS secret that validates clients: the trust domain's bundle, or SPIRE's ALL when federated. */
  readonly trustSecret: string;
  /** Exact URI SANs a client must present; with any, a client certificate is required. */
  readonly callers: readonly string[];
  readonly alpn: readonly string[];
  /** STRICT only: present this certificate instead of the SVID, and ask for no client certificate. */
  readonly edge?: EdgeCertificate;
}

function downstreamTlsSocket(d: DownstreamTls) {
  const commonTlsContext = d.edge
    ? {
        tls_params: tlsParams,
        ...(d.alpn.length > 0 ? { alpn_protocols: [...d.alpn] } : {}),
        tls_certificates: [
          {
            certificate_chain: { filename: d.edge.certificateChain },
            private_key: { filename: d.edge.privateKey },
            watched_directory: { path: d.edge.watchedDirectory },
          },
        ],
      }
    : commonTls(d.identity as string, d.trustSecret, d.callers, d.alpn);
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": t.downstreamTls,
      // STRICT demands a client certificate whose SAN is on the list (PERMISSIVE cannot have callers).
      require_client_certificate: d.callers.length > 0,
      common_tls_context: commonTlsContext,
    },
  };
}

/**
 * A listener that takes traffic into the mesh, named as App Mesh's ingress (`lds_ingress_<ip>_<port>`, which
 * the policy pack checks): STRICT is one TLS chain; PERMISSIVE sniffs with tls_inspector and has a TLS and a
 * plaintext chain; otherwise one plaintext chain. `filters` gives a chain's network filters for a stat prefix.
 */
export function downstreamListener(
  port: number,
  tls: DownstreamTls,
  filters: (statPrefix: string) => object[],
) {
  let filterChains: object[];
  let listenerFilters: object[] = [];
  if (tls.mode === TlsMode.Strict) {
    filterChains = [{ transport_socket: downstreamTlsSocket(tls), filters: filters("ingress_mtls") }];
  } else if (tls.mode === TlsMode.Permissive) {
    listenerFilters = [
      { name: "envoy.filters.listener.tls_inspector", typed_config: { "@type": t.tlsInspector } },
    ];
    filterChains = [
      {
        filter_chain_match: { transport_protocol: "tls" },
        transport_socket: downstreamTlsSocket(tls),
        filters: filters("ingress_mtls"),
      },
      { filter_chain_match: { transport_protocol: "raw_buffer" }, filters: filters("ingress_plaintext") },
    ];
  } else {
    filterChains = [{ filters: filters("ingress_plaintext") }];
  }
  return {
    name: `lds_ingress_0.0.0.0_${port}`,
    address: socketAddress("0.0.0.0", port),
    ...(listenerFilters.length > 0 ? { listener_filters: listenerFilters } : {}),
    filter_chains: filterChains,
  };
}

function ingressListener(b: BootstrapInput, appCluster: string) {
  const n = b.node;
  const filters = (prefix: string) =>
    protocolFilters(
      n.protocol,
      prefix,
      appCluster,
      () => ({
        name: `rds_ingress_${n.protocol}_${n.port}`,
        virtual_hosts: [
          {
            name: awsName(n),
            domains: ["*"],
            routes: [{ match: { prefix: "/" }, route: { cluster: appCluster } }],
          },
        ],
      }),
      n.authorization,
    );
  return downstreamListener(
    b.ports.ingress,
    {
      mode: n.tlsMode,
      identity: n.identity,
      trustSecret: validationSecret(n),
      callers: n.allowedCallers,
      alpn: usesHttp2(n.protocol) ? ["h2"] : [],
    },
    filters,
  );
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

/** Whose client certificate a node or gateway presents to its backends. */
export interface ClientIdentity {
  readonly identity: string;
  /** The SDS secret that validates the servers: the trust domain's bundle, or SPIRE's ALL when federated. */
  readonly trustSecret: string;
}

/** One backend node as an upstream cluster: mTLS with the caller's SVID and an exact SAN check, health checked. */
export function egressClusterFor(meshName: string, self: ClientIdentity, target: VirtualNodeSpec) {
  const name = egressCluster(meshName, target);
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
          self.identity,
          self.trustSecret,
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
        filters: protocolFilters(protocol, statPrefix, egressCluster(b.meshName, e.routes[0].target), () => ({
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
export function readinessListener(port: number) {
  return {
    name: `lds_readiness_0.0.0.0_${port}`,
    address: socketAddress("0.0.0.0", port),
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

/** The SPIRE agent's socket as a cluster; SDS is gRPC, so HTTP/2. */
export function sdsCluster(socketPath: string) {
  return staticCluster(SDS_CLUSTER, { pipe: { path: socketPath } }, http2Upstream);
}

/** The readiness route's way to the admin interface: its socket (a pipe endpoint needs a STATIC cluster). */
export const adminCluster = () => staticCluster(ADMIN_CLUSTER, { pipe: { path: ENVOY_ADMIN.socket } });

/**
 * What every bootstrap of ours starts with: its node (for SDS) and the admin interface on its Unix socket.
 * `federated`: whether its peers span several trust domains (validated with SPIRE's ALL secret).
 */
export function bootstrapHead(nodeId: string, meshName: string, federated = false) {
  return {
    node: {
      id: nodeId,
      cluster: meshName,
      // Within one trust domain: plain X.509 chain validation against the bundle, as App Mesh did. Federated:
      // SPIRE's SPIFFE validator, which checks each peer against its own domain's bundle; the agent serves the
      // ALL secret only with it (and answers an error to an Envoy that disables it).
      metadata: { disable_spiffe_cert_validation: !federated },
    },
    admin: { address: { pipe: { path: ENVOY_ADMIN.socket, mode: ENVOY_ADMIN.mode } } },
  };
}

export function envoyBootstrap(b: BootstrapInput): Record<string, unknown> {
  const n = b.node;
  const appCluster = ingressCluster(b.meshName, n);
  const targets = new Map(b.egress.flatMap((e) => e.routes.map((r) => [r.target.name, r.target] as const)));
  const self = { identity: n.identity as string, trustSecret: validationSecret(n) };
  return {
    ...bootstrapHead(`${n.name}.${n.namespace}`, b.meshName, n.federatesWith.length > 0),
    static_resources: {
      listeners: [
        ingressListener(b, appCluster),
        ...b.egress.map((e) => egressListener(b, e)),
        readinessListener(b.ports.readiness),
      ],
      clusters: [
        sdsCluster(b.sdsSocketPath),
        staticCluster(
          appCluster,
          socketAddress("127.0.0.1", n.port),
          usesHttp2(n.protocol) ? http2Upstream : {},
        ),
        adminCluster(),
        ...[...targets.values()].map((target) => egressClusterFor(b.meshName, self, target)),
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
