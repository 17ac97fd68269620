/**
 * Reads the subset of a rendered Envoy bootstrap that carries the mesh's policy: which SDS secrets to ask for,
 * the ingress TLS mode and allowed callers, the router's header routes, and each backend cluster's endpoint, SAN
 * list and health check. The local TLS sidecar runs exactly this, so what the demo and the reliability tests
 * prove is what the bootstrap says. Pure.
 */

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

export type IngressMode = "STRICT" | "PERMISSIVE" | "PLAINTEXT";

export interface TlsPlan {
  /** SDS name of the own SVID. */
  readonly certificate: string;
  /** SDS name of the trust bundle. */
  readonly trust: string;
  /** Exact URI SANs a peer must present; empty means any identity the bundle vouches for. */
  readonly allowedSans: readonly string[];
}

export interface HealthCheckPlan {
  readonly path: string;
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
  readonly healthCheck?: HealthCheckPlan;
}

export interface RoutePlan {
  readonly name: string;
  readonly header: string;
  readonly value: string;
  readonly cluster: string;
}

export interface EgressPlan {
  readonly listener: string;
  /** `ip:port` as rendered. */
  readonly address: string;
  readonly domains: readonly string[];
  readonly routes: readonly RoutePlan[];
}

export interface SidecarPlan {
  readonly nodeId: string;
  readonly nodeCluster: string;
  readonly nodeMetadata: Record<string, unknown>;
  readonly sdsSocket: string;
  readonly ingress: {
    readonly listener: string;
    readonly port: number;
    readonly mode: IngressMode;
    readonly tls?: TlsPlan;
    readonly requireClientCertificate: boolean;
  };
  /** `ip:port` of the local app, as rendered. */
  readonly app: string;
  readonly readiness: { readonly port: number; readonly path: string; readonly appPath: string };
  readonly egress: readonly EgressPlan[];
  readonly clusters: readonly ClusterPlan[];
}

const seconds = (d: string) => Number(d.replace(/s$/, "")) * 1000;
const address = (a: Json) => `${a.socket_address.address}:${a.socket_address.port_value}`;

function tlsPlan(transportSocket: Json): TlsPlan {
  const ctx = transportSocket.typed_config.common_tls_context;
  const combined = ctx.combined_validation_context;
  return {
    certificate: ctx.tls_certificate_sds_secret_configs[0].name,
    trust: (combined?.validation_context_sds_secret_config ?? ctx.validation_context_sds_secret_config).name,
    allowedSans: (combined?.default_validation_context?.match_typed_subject_alt_names ?? []).map(
      (m: Json) => m.matcher.exact,
    ),
  };
}

const routeConfig = (chain: Json) => chain.filters[0].typed_config.route_config;

export function sidecarPlan(bootstrap: Json): SidecarPlan {
  const listeners: Json[] = bootstrap.static_resources.listeners;
  const clusters: Json[] = bootstrap.static_resources.clusters;
  const ingress = listeners.find((l) => l.name.startsWith("lds_ingress_"));
  const readiness = listeners.find((l) => l.name.startsWith("lds_readiness_"));
  const tlsChain = ingress.filter_chains.find((c: Json) => c.transport_socket);
  const mode: IngressMode = !tlsChain
    ? "PLAINTEXT"
    : ingress.filter_chains.length > 1
      ? "PERMISSIVE"
      : "STRICT";
  const appClusterName = routeConfig(ingress.filter_chains[0]).virtual_hosts[0].routes[0].route.cluster;
  const appCluster = clusters.find((c) => c.name === appClusterName);
  const sds = clusters.find((c) => c.name === "static_cluster_sds_unix_socket");
  const readinessRoute = routeConfig(readiness.filter_chains[0]).virtual_hosts[0].routes[0];
  return {
    nodeId: bootstrap.node.id,
    nodeCluster: bootstrap.node.cluster,
    nodeMetadata: bootstrap.node.metadata ?? {},
    sdsSocket: sds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe.path,
    ingress: {
      listener: ingress.name,
      port: ingress.address.socket_address.port_value,
      mode,
      tls: tlsChain ? tlsPlan(tlsChain.transport_socket) : undefined,
      requireClientCertificate: tlsChain?.transport_socket.typed_config.require_client_certificate === true,
    },
    app: address(appCluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address),
    readiness: {
      port: readiness.address.socket_address.port_value,
      path: readinessRoute.match.path,
      appPath: readinessRoute.route.prefix_rewrite,
    },
    egress: listeners
      .filter((l) => l.name.startsWith("lds_egress_"))
      .map((l) => {
        const host = routeConfig(l.filter_chains[0]).virtual_hosts[0];
        return {
          listener: l.name,
          address: address(l.address),
          domains: host.domains,
          routes: host.routes.map((r: Json) => ({
            name: r.name,
            header: r.match.headers[0].name,
            value: r.match.headers[0].string_match.exact,
            cluster: r.route.cluster,
          })),
        };
      }),
    clusters: clusters
      .filter((c) => c.transport_socket)
      .map((c) => {
        const hc = c.health_checks?.[0];
        return {
          name: c.name,
          endpoint: address(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address),
          tls: tlsPlan(c.transport_socket),
          healthCheck: hc?.http_health_check
            ? {
                path: hc.http_health_check.path,
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
