/**
 * Reads a rendered Envoy bootstrap into what the local TLS sidecar executes: which SDS secrets to wait for, the
 * ingress mode, protocol and allowed callers, where ingress goes (the app, or for a gateway its routes to mesh
 * clusters), the router's routes, each backend cluster's endpoint, SAN list, protocol and health check, and the
 * readiness route. Pure.
 *
 * The sidecar stands in for Envoy, so it must never silently ignore a field Envoy would act on. Every message
 * is checked against an explicit allow-list of the fields the sidecar models (bootstrapFields.ts); anything
 * else is refused with its path.
 */
import { checkModeledFields } from "./bootstrapFields";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

export type IngressMode = "STRICT" | "PERMISSIVE" | "PLAINTEXT";
/** What travels on the wire: HTTP/1.1, HTTP/2 (http2 and gRPC nodes) or plain TCP. */
export type WireProtocol = "http1" | "http2" | "tcp";

export interface TlsPlan {
  /** SDS name of the own SVID. */
  readonly certificate: string;
  /** SDS name of the trust bundle. */
  readonly trust: string;
  /** Exact URI SANs a peer must present; empty means any identity the bundle vouches for. */
  readonly allowedSans: readonly string[];
  /** Envoy's TLSv1_2/TLSv1_3 names. */
  readonly minVersion: string;
  readonly maxVersion: string;
  readonly alpn: readonly string[];
}

export interface HealthCheckPlan {
  readonly kind: "http" | "grpc" | "tcp";
  readonly path?: string;
  readonly http2: boolean;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface ClusterPlan {
  readonly name: string;
  /** `host:port` as rendered (a Kubernetes Service name). */
  readonly endpoint: string;
  readonly tls: TlsPlan;
  /** Envoy speaks HTTP/2 to this cluster. */
  readonly http2: boolean;
  readonly healthCheck?: HealthCheckPlan;
}

export interface RoutePlan {
  readonly name: string;
  /** The path must start with it; "/" takes every path. */
  readonly prefix: string;
  /** Exact header values, all of which must match; none: any request on the prefix. */
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly cluster: string;
  /** Envoy's prefix_rewrite: replaces the matched prefix. */
  readonly prefixRewrite?: string;
  /** Envoy's host_rewrite_literal: the Host the upstream sees. */
  readonly hostRewrite?: string;
}

export interface EgressPlan {
  readonly listener: string;
  /** `ip:port` as rendered. */
  readonly address: string;
  readonly protocol: WireProtocol;
  readonly domains: readonly string[];
  readonly routes: readonly RoutePlan[];
}

export interface SidecarPlan {
  readonly nodeId: string;
  readonly nodeCluster: string;
  readonly nodeMetadata: Record<string, unknown>;
  readonly sdsSocket: string;
  /** Every SDS secret the bootstrap asks for. */
  readonly secrets: readonly string[];
  /** True when every SDS config waits without a timeout (initial_fetch_timeout 0s): no listener before all. */
  readonly waitForSecrets: boolean;
  readonly ingress: {
    readonly listener: string;
    readonly port: number;
    readonly mode: IngressMode;
    readonly protocol: WireProtocol;
    readonly tls?: TlsPlan;
    readonly requireClientCertificate: boolean;
    /** A gateway's: the routes from its listener to mesh clusters (mTLS), for these domains. Else: the app. */
    readonly gateway?: { readonly domains: readonly string[]; readonly routes: readonly RoutePlan[] };
  };
  /** `ip:port` of the local app, as rendered (none behind a gateway), and whether Envoy speaks HTTP/2 to it. */
  readonly app?: string;
  readonly appHttp2: boolean;
  /** The kubelet's readiness route: exactly this method and path, answered by Envoy's own /ready. */
  readonly readiness: { readonly port: number; readonly method: string; readonly path: string };
  readonly egress: readonly EgressPlan[];
  readonly clusters: readonly ClusterPlan[];
}

const seconds = (d: string) => Number(d.replace(/s$/, "")) * 1000;
const address = (a: Json) => `${a.socket_address.address}:${a.socket_address.port_value}`;
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

function tlsPlan(transportSocket: Json): TlsPlan {
  const ctx = transportSocket.typed_config.common_tls_context;
  const combined = ctx.combined_validation_context;
  return {
    certificate: ctx.tls_certificate_sds_secret_configs[0].name,
    trust: (combined?.validation_context_sds_secret_config ?? ctx.validation_context_sds_secret_config).name,
    allowedSans: (combined?.default_validation_context?.match_typed_subject_alt_names ?? []).map(
      (m: Json) => m.matcher.exact,
    ),
    // Envoy's own defaults when unset: TLS 1.2 to 1.3 (downstream), no ALPN.
    minVersion: ctx.tls_params?.tls_minimum_protocol_version ?? "TLSv1_2",
    maxVersion: ctx.tls_params?.tls_maximum_protocol_version ?? "TLSv1_3",
    alpn: ctx.alpn_protocols ?? [],
  };
}

const isHttp2Cluster = (c: Json) =>
  c.typed_extension_protocol_options?.[HTTP_OPTIONS]?.explicit_http_config?.http2_protocol_options !==
  undefined;

/** The chain's protocol filter: tcp_proxy, or an HTTP connection manager (HTTP/1.1 or HTTP/2 by ALPN/preface). */
function chainProtocol(chain: Json, upstreamHttp2: boolean): WireProtocol {
  const filter = chain.filters[0];
  if (filter.name === "envoy.filters.network.tcp_proxy") return "tcp";
  return upstreamHttp2 ? "http2" : "http1";
}

const routeConfig = (chain: Json) => chain.filters[0].typed_config.route_config;

function routePlan(r: Json): RoutePlan {
  return {
    name: r.name,
    prefix: r.match.prefix,
    headers: (r.match.headers ?? []).map((h: Json) => ({ name: h.name, value: h.string_match.exact })),
    cluster: r.route.cluster,
    ...(r.route.prefix_rewrite !== undefined ? { prefixRewrite: r.route.prefix_rewrite } : {}),
    ...(r.route.host_rewrite_literal !== undefined ? { hostRewrite: r.route.host_rewrite_literal } : {}),
  };
}

export function sidecarPlan(bootstrap: Json): SidecarPlan {
  checkModeledFields(bootstrap);
  const listeners: Json[] = bootstrap.static_resources.listeners;
  const clusters: Json[] = bootstrap.static_resources.clusters;
  const byName = (name: string) => clusters.find((c) => c.name === name);
  const ingress = listeners.find((l) => l.name.startsWith("lds_ingress_"));
  const readiness = listeners.find((l) => l.name.startsWith("lds_readiness_"));
  const tlsChain = ingress.filter_chains.find((c: Json) => c.transport_socket);
  const mode: IngressMode = !tlsChain
    ? "PLAINTEXT"
    : ingress.filter_chains.length > 1
      ? "PERMISSIVE"
      : "STRICT";
  const firstFilter = ingress.filter_chains[0].filters[0];
  const appClusterName =
    firstFilter.name === "envoy.filters.network.tcp_proxy"
      ? firstFilter.typed_config.cluster
      : routeConfig(ingress.filter_chains[0]).virtual_hosts[0].routes[0].route.cluster;
  // A gateway's listener routes to mesh clusters (they carry mTLS); a sidecar's to its app's plain cluster.
  const gatewayHost = byName(appClusterName)?.transport_socket
    ? routeConfig(ingress.filter_chains[0]).virtual_hosts[0]
    : undefined;
  const appCluster = gatewayHost ? undefined : byName(appClusterName);
  const sds = byName("static_cluster_sds_unix_socket");
  const readinessRoute = routeConfig(readiness.filter_chains[0]).virtual_hosts[0].routes[0];
  const exact = (headers: Json[], name: string) =>
    headers?.find((h: Json) => h.name === name)?.string_match.exact as string | undefined;

  const secretNames = new Set<string>();
  const fetchTimeouts = new Set<string>();
  const walk = (v: Json): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === "object") {
      if (typeof v.name === "string" && v.sds_config) {
        secretNames.add(v.name);
        fetchTimeouts.add(v.sds_config.initial_fetch_timeout ?? "15s");
      }
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(bootstrap);

  return {
    nodeId: bootstrap.node.id,
    nodeCluster: bootstrap.node.cluster,
    nodeMetadata: bootstrap.node.metadata ?? {},
    sdsSocket: sds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path,
    secrets: [...secretNames].sort(),
    waitForSecrets: fetchTimeouts.size === 1 && fetchTimeouts.has("0s"),
    ingress: {
      listener: ingress.name,
      port: ingress.address.socket_address.port_value,
      mode,
      protocol: chainProtocol(
        ingress.filter_chains[0],
        appCluster !== undefined && isHttp2Cluster(appCluster),
      ),
      tls: tlsChain ? tlsPlan(tlsChain.transport_socket) : undefined,
      requireClientCertificate: tlsChain?.transport_socket.typed_config.require_client_certificate === true,
      ...(gatewayHost
        ? { gateway: { domains: gatewayHost.domains, routes: gatewayHost.routes.map(routePlan) } }
        : {}),
    },
    ...(appCluster
      ? { app: address(appCluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address) }
      : {}),
    appHttp2: appCluster !== undefined && isHttp2Cluster(appCluster),
    readiness: {
      port: readiness.address.socket_address.port_value,
      method: exact(readinessRoute.match.headers, ":method") ?? "*",
      path: exact(readinessRoute.match.headers, ":path") ?? readinessRoute.match.path,
    },
    egress: listeners
      .filter((l) => l.name.startsWith("lds_egress_"))
      .map((l) => {
        const filter = l.filter_chains[0].filters[0];
        if (filter.name === "envoy.filters.network.tcp_proxy") {
          const cluster = filter.typed_config.cluster;
          return {
            listener: l.name,
            address: address(l.address),
            protocol: "tcp" as const,
            domains: [],
            routes: [{ name: cluster, prefix: "/", headers: [], cluster }],
          };
        }
        const host = routeConfig(l.filter_chains[0]).virtual_hosts[0];
        const routes: RoutePlan[] = host.routes.map(routePlan);
        return {
          listener: l.name,
          address: address(l.address),
          protocol: chainProtocol(l.filter_chains[0], isHttp2Cluster(byName(routes[0].cluster))),
          domains: host.domains,
          routes,
        };
      }),
    clusters: clusters
      .filter((c) => c.transport_socket)
      .map((c) => {
        const hc = c.health_checks?.[0];
        const kind = hc?.grpc_health_check ? "grpc" : hc?.tcp_health_check ? "tcp" : "http";
        return {
          name: c.name,
          endpoint: address(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address),
          tls: tlsPlan(c.transport_socket),
          http2: isHttp2Cluster(c),
          healthCheck: hc
            ? {
                kind,
                path: hc.http_health_check?.path,
                http2: isHttp2Cluster(c) || hc.http_health_check?.codec_client_type === "HTTP2",
                timeoutMs: seconds(hc.timeout),
                intervalMs: seconds(hc.interval),
                healthyThreshold: hc.healthy_threshold,
                unhealthyThreshold: hc.unhealthy_threshold,
              }
            : undefined,
        };
      }),
  };
}
