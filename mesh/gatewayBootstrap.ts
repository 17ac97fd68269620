/**
 * The gateway's Envoy bootstrap on the envoy data plane, from the same pieces as the sidecars': the downstream
 * listener per its mode, its routes (GatewayRoute semantics: prefix and optional header, the matched prefix
 * rewritten to "/" and the host to the virtual service's name, as App Mesh does by default) resolved through
 * each virtual service's router to one upstream cluster per target, over mTLS with the gateway's SVID and an
 * exact SAN check, health checked; admin on its Unix socket and the kubelet's readiness route.
 *
 * It is an edge, so its connection manager is an edge's (Envoy's "Configuring Envoy as an edge proxy"): the
 * client is the connection's peer (or the trusted proxies' X-Forwarded-For entry), so Envoy strips the x-envoy
 * control headers a client sends; paths are normalized before routing, escaped slashes refused; headers and idle
 * streams have deadlines; the router adds no x-envoy headers; and the overload manager caps open connections.
 * Pure.
 */
import {
  adminCluster,
  bootstrapHead,
  downstreamListener,
  egressCluster,
  egressClusterFor,
  envoyPorts,
  httpConnectionManager,
  readinessListener,
  sdsCluster,
} from "./envoyBootstrap";
import type { GatewaySpec } from "./gateway";
import { EDGE_TLS_DIR } from "./gatewayListener";
import type { VirtualNodeSpec } from "./virtualNode";

const exact = (name: string, value: string) => ({ name, string_match: { exact: value } });
const seconds = (ms: number) => `${ms / 1000}s`;

/** Envoy's global connection limit: the proactive resource monitor needs no overload action to refuse. */
export const CONNECTION_MONITOR = "envoy.resource_monitors.global_downstream_max_connections";
const CONNECTION_MONITOR_TYPE =
  "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig";

/**
 * `/color` matches /color and /color/... but not /colorX (path_separated_prefix, which takes no trailing "/");
 * a prefix ending in "/" already ends at a separator, and "/" matches everything.
 */
const pathMatch = (prefix: string) => (prefix.endsWith("/") ? { prefix } : { path_separated_prefix: prefix });

function edgeOptions(g: GatewaySpec) {
  const l = g.listener;
  return {
    connectionManager: {
      // The peer (or the trusted hops' X-Forwarded-For entry) is the client: no request is internal, so Envoy
      // strips client-sent x-envoy-* control headers (timeouts, retries, downstream service) before routing.
      use_remote_address: true,
      ...(l.xffNumTrustedHops > 0 ? { xff_num_trusted_hops: l.xffNumTrustedHops } : {}),
      // Route on the path the target will see: /color/../x is /x, //color is /color.
      normalize_path: true,
      merge_slashes: true,
      // %2F and %5C would let a path mean one thing to the route and another to the target: 400, not a guess.
      path_with_escaped_slashes_action: "REJECT_REQUEST",
      request_headers_timeout: seconds(l.requestHeadersTimeoutMillis),
      stream_idle_timeout: seconds(l.streamIdleTimeoutMillis),
    },
    // No x-envoy-upstream-service-time or x-envoy-expected-rq-timeout-ms from the gateway's own router.
    router: { suppress_envoy_headers: true },
  };
}

/** The connection cap; the kubelet's readiness port and the admin interface stay reachable at the cap. */
function overloadManager(maxConnections: number) {
  return {
    resource_monitors: [
      {
        name: CONNECTION_MONITOR,
        typed_config: {
          "@type": CONNECTION_MONITOR_TYPE,
          // int64: a string in canonical proto3 JSON.
          max_active_downstream_connections: String(maxConnections),
        },
      },
    ],
  };
}

function routeConfig(g: GatewaySpec) {
  return {
    name: `rds_gateway_${g.listener.port}`,
    virtual_hosts: [
      {
        name: `${g.name}_${g.namespace}`,
        domains: ["*"],
        // First match wins: gateway routes in priority order, each expanded into its virtual service's router
        // routes in theirs. A request no route matches gets Envoy's 404, and reaches nothing.
        routes: g.routes.flatMap((route) => {
          const backend = g.backends.find((b) => b.virtualService === route.virtualService);
          return (backend?.routes ?? []).map((r) => {
            const headers = [
              ...(route.header ? [exact(route.header.name, route.header.value)] : []),
              ...(r.header ? [exact(r.header, r.value as string)] : []),
            ];
            return {
              name: `${route.name}-${r.name}`,
              match: { ...pathMatch(route.prefix), ...(headers.length > 0 ? { headers } : {}) },
              route: {
                cluster: egressCluster(g.meshName, r.target),
                prefix_rewrite: "/",
                host_rewrite_literal: backend?.hostname,
              },
            };
          });
        }),
      },
    ],
  };
}

export function gatewayBootstrap(g: GatewaySpec): Record<string, unknown> {
  const targets = new Map<string, VirtualNodeSpec>();
  for (const b of g.backends) for (const r of b.routes) targets.set(r.target.name, r.target);
  const self = { identity: g.identity, trustSecret: g.trustDomainId };
  const edge = g.listener.edgeTlsSecret
    ? {
        certificateChain: `${EDGE_TLS_DIR}/tls.crt`,
        privateKey: `${EDGE_TLS_DIR}/tls.key`,
        watchedDirectory: EDGE_TLS_DIR,
      }
    : undefined;
  const head = bootstrapHead(`${g.name}.${g.namespace}`, g.meshName);
  return {
    ...head,
    admin: { ...head.admin, ignore_global_conn_limit: true },
    overload_manager: overloadManager(g.listener.maxConnections),
    static_resources: {
      listeners: [
        downstreamListener(
          g.listener.port,
          {
            mode: g.listener.tlsMode,
            identity: g.identity,
            trustSecret: g.trustDomainId,
            callers: g.listener.callers,
            alpn: [],
            ...(edge ? { edge } : {}),
          },
          (statPrefix) => [httpConnectionManager(statPrefix, routeConfig(g), edgeOptions(g))],
        ),
        { ...readinessListener(envoyPorts.readiness), ignore_global_conn_limit: true },
      ],
      clusters: [
        sdsCluster(g.sdsSocketPath),
        adminCluster(),
        ...[...targets.values()].map((target) => egressClusterFor(g.meshName, self, target)),
      ],
    },
  };
}
