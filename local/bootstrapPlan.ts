/**
 * Reads a rendered Envoy bootstrap into what the local TLS sidecar executes: which SDS secrets to wait for, the
 * ingress listener's filter chains (which one a TLS or a plaintext connection takes, each chain's TLS context,
 * protocol and target), the egress listeners' routes, each backend cluster's endpoint, SAN list, protocol,
 * health check and panic threshold, the admin socket, and the readiness route to it. Pure.
 *
 * The sidecar stands in for Envoy, so it must never silently ignore a field Envoy would act on. Every message
 * is checked against an explicit allow-list of the fields the sidecar models (bootstrapFields.ts); what that
 * list cannot say (which listeners and clusters exist, what refers to what, which addresses are bound) is
 * checked here. Anything else is refused with its path, value and rule.
 */
import { checkModeledFields } from "./bootstrapFields";
import {
  adminPipe,
  demand,
  durationMs,
  httpPlan,
  httpRbac,
  IPV4,
  isDefaultHttp,
  isHttp2Cluster,
  isTcpProxy,
  networkFilters,
  positiveInt,
  requireBind,
  socketAddress,
  text,
  tlsPlan,
  virtualHost,
} from "./sidecarPlanReaders";
import type { RbacPlan } from "./sidecarRbac";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

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
  /** TCP connect and TLS handshake must finish within it. */
  readonly connectTimeoutMs: number;
  readonly healthCheck?: HealthCheckPlan;
  /** common_lb_config.healthy_panic_threshold (Envoy's default 50): below it, Envoy ignores health. */
  readonly healthyPanicThresholdPercent: number;
}

/** What an HTTP connection manager and its router do to a request before and around routing. */
export interface HttpPlan {
  /** Envoy's `http.<statPrefix>.` counters. */
  readonly statPrefix: string;
  /** The client is the connection's peer (or the trusted hops' X-Forwarded-For entry): an edge. */
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  /** %2F, %2f, %5C or %5c in the path: 400. */
  readonly rejectEscapedSlashes: boolean;
  /** Headers not complete within it: 408. None: no limit. */
  readonly requestHeadersTimeoutMs?: number;
  /** No activity either way for this long: 408 before the response, a reset after; 0 disables. */
  readonly streamIdleTimeoutMs: number;
  /** The router adds no x-envoy-* headers. */
  readonly suppressEnvoyHeaders: boolean;
}

export interface RoutePlan {
  readonly name: string;
  /** Envoy's route match: the path (query and fragment removed) starts with `prefix`, or equals `path`. */
  readonly prefix?: string;
  /** The path equals it or continues with "/" after it (/color: /color, /color/x, never /colorX). */
  readonly pathSeparatedPrefix?: string;
  readonly path?: string;
  /** Exact header values, all of which must match (`:path` is the whole request target, query included). */
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly cluster: string;
  /** Envoy's prefix_rewrite: replaces the matched prefix (or path). */
  readonly prefixRewrite?: string;
  /** Envoy's host_rewrite_literal: the Host the upstream sees. */
  readonly hostRewrite?: string;
}

/** One virtual host: the domains it answers (exact, case-insensitive, or "*") and its routes in order. */
export interface VirtualHostPlan {
  readonly domains: readonly string[];
  readonly routes: readonly RoutePlan[];
}

export interface EgressPlan {
  readonly listener: string;
  /** `ip:port` as rendered. */
  readonly address: string;
  readonly protocol: WireProtocol;
  readonly domains: readonly string[];
  readonly routes: readonly RoutePlan[];
  /** Its connection manager (none for tcp). */
  readonly http?: HttpPlan;
  /** Envoy's listener stat root, `listener.<ip>_<port>`. */
  readonly statRoot: string;
  /** Accepts beyond the overload manager's connection cap, and counts toward none. */
  readonly ignoreGlobalConnLimit: boolean;
}

/** One ingress filter chain: its TLS context (none: plaintext), protocol, and where it sends requests. */
export interface ChainPlan {
  /** Its index in filter_chains. */
  readonly index: number;
  readonly protocol: WireProtocol;
  readonly tls?: TlsPlan;
  readonly requireClientCertificate: boolean;
  /** A gateway's chain: routes to mesh clusters (mTLS). None: the app. */
  readonly gateway?: VirtualHostPlan;
  /** Its connection manager (none for tcp). */
  readonly http?: HttpPlan;
  /** Authorization of each request (HTTP RBAC) or connection (network RBAC) before it reaches the app. */
  readonly rbac?: RbacPlan;
}

export interface SidecarPlan {
  readonly nodeId: string;
  readonly nodeCluster: string;
  readonly nodeMetadata: Record<string, unknown>;
  readonly sdsSocket: string;
  /** Every SDS secret the bootstrap asks for. */
  readonly secrets: readonly string[];
  /** Every SDS config waits without a timeout (initial_fetch_timeout 0s): no listener before all arrived. */
  readonly waitForSecrets: boolean;
  readonly ingress: {
    readonly listener: string;
    readonly port: number;
    /** Envoy's listener stat root: `listener.<ip>_<port>`. */
    readonly statRoot: string;
    /** tls_inspector runs: a connection whose first bytes are a TLS ClientHello has transport protocol "tls". */
    readonly tlsInspector: boolean;
    /** The chain a connection tls_inspector saw as TLS takes, and the one any other takes; none: closed. */
    readonly onTls?: ChainPlan;
    readonly onPlaintext?: ChainPlan;
    readonly ignoreGlobalConnLimit: boolean;
  };
  /** The overload manager's cap on open downstream connections, over every listener that does not ignore it. */
  readonly maxConnections?: number;
  /** `ip:port` of the local app, as rendered (none behind a gateway), and whether Envoy speaks HTTP/2 to it. */
  readonly app?: string;
  readonly appHttp2: boolean;
  /** Envoy's admin interface: a Unix socket, chmod-ed to `mode` once bound. */
  readonly admin: { readonly socket: string; readonly mode: number };
  /** The kubelet's readiness listener: its routes, each to the admin interface over its socket. */
  readonly readiness: {
    readonly port: number;
    readonly statRoot: string;
    readonly ignoreGlobalConnLimit: boolean;
  } & VirtualHostPlan;
  readonly egress: readonly EgressPlan[];
  readonly clusters: readonly ClusterPlan[];
}

const NO_RBAC_HERE =
  "is not modelled here: the sidecar runs RBAC on the ingress listener's chains to the app only";

export function sidecarPlan(bootstrap: Json): SidecarPlan {
  checkModeledFields(bootstrap);
  const listeners: Json[] = bootstrap.static_resources?.listeners ?? [];
  const clusters: Json[] = bootstrap.static_resources?.clusters ?? [];
  const L = (i: number) => `bootstrap.static_resources.listeners[${i}]`;
  const C = (i: number) => `bootstrap.static_resources.clusters[${i}]`;

  const clusterIndex = new Map<string, number>();
  for (const [i, c] of clusters.entries()) {
    const name = text(c.name, `${C(i)}.name`);
    demand(
      !clusterIndex.has(name),
      `${C(i)}.name`,
      name,
      "repeats a cluster name (Envoy refuses the bootstrap)",
    );
    clusterIndex.set(name, i);
  }
  /** Each cluster's role, as what refers to it; a cluster with none (or two) is refused below. */
  const roles = new Map<string, Set<string>>();
  const use = (name: string, role: string, path: string) => {
    demand(clusterIndex.has(name), path, name, "names no cluster (Envoy refuses the route table)");
    roles.set(name, (roles.get(name) ?? new Set()).add(role));
  };
  const byName = (name: string) => clusters[clusterIndex.get(name) as number];

  // SDS: every secret's gRPC service is the one SDS cluster, which the sidecar points at the agent socket.
  const secretNames = new Set<string>();
  const walk = (v: Json, path: string): void => {
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${path}[${i}]`);
    } else if (v && typeof v === "object") {
      if (typeof v.name === "string" && v.sds_config) {
        secretNames.add(v.name);
        const grpc = `${path}.sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name`;
        use(
          text(v.sds_config.api_config_source?.grpc_services?.[0]?.envoy_grpc?.cluster_name, grpc),
          "sds",
          grpc,
        );
        demand(
          v.sds_config.initial_fetch_timeout === "0s",
          `${path}.sds_config.initial_fetch_timeout`,
          v.sds_config.initial_fetch_timeout,
          "must be 0s (Envoy's default 15s lets it go live without the secret; the sidecar models waiting)",
        );
      }
      for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    }
  };
  walk(bootstrap, "bootstrap");
  const sdsNames = [...roles.keys()];
  demand(sdsNames.length === 1, "bootstrap SDS configs", sdsNames, "must all name one SDS cluster");
  const sds = byName(sdsNames[0]);
  const sdsAddress = sds.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address;
  demand(
    typeof sdsAddress?.pipe?.path === "string",
    `${C(clusterIndex.get(sds.name) as number)}.load_assignment`,
    sdsAddress,
    "must be the agent's unix socket (pipe.path)",
  );

  const admin = adminPipe(bootstrap.admin?.address, "bootstrap.admin.address");

  const kinds = ["ingress", "egress", "readiness"] as const;
  const ofKind = (kind: string) =>
    listeners.map((l, i) => ({ l, i })).filter(({ l }) => String(l.name).startsWith(`lds_${kind}_`));
  for (const [i, l] of listeners.entries()) {
    demand(
      kinds.some((k) => String(l.name).startsWith(`lds_${k}_`)),
      `${L(i)}.name`,
      l.name,
      "is not an lds_ingress_*, lds_egress_* or lds_readiness_* listener, the only ones the sidecar runs",
    );
    demand(
      (l.filter_chains ?? []).length > 0,
      `${L(i)}.filter_chains`,
      l.filter_chains,
      "needs at least one filter chain",
    );
  }
  for (const kind of ["ingress", "readiness"]) {
    const found = ofKind(kind);
    demand(
      found.length === 1,
      "bootstrap.static_resources.listeners",
      found.map(({ l }) => l.name),
      `must hold exactly one lds_${kind}_* listener`,
    );
  }
  // Envoy cannot bind two listeners to overlapping addresses on one port.
  const bound: { ip: string; port: number; at: string }[] = [];
  for (const [i, l] of listeners.entries()) {
    const a = socketAddress(l.address, `${L(i)}.address`);
    const clash = bound.find(
      (b) => b.port === a.port && (b.ip === a.ip || b.ip === "0.0.0.0" || a.ip === "0.0.0.0"),
    );
    demand(!clash, `${L(i)}.address`, `${a.ip}:${a.port}`, `overlaps ${clash?.at} (Envoy cannot bind both)`);
    bound.push({ ...a, at: `${L(i)}.address` });
  }

  /** A plaintext-only listener: one chain, no match, no TLS, no listener filter (egress and readiness). */
  const plainChain = (l: Json, i: number) => {
    demand(
      l.listener_filters === undefined,
      `${L(i)}.listener_filters`,
      l.listener_filters,
      "is not modelled here",
    );
    demand(
      l.filter_chains.length === 1,
      `${L(i)}.filter_chains`,
      l.filter_chains.length,
      "must be one chain",
    );
    const chain = l.filter_chains[0];
    demand(
      chain.filter_chain_match === undefined && chain.transport_socket === undefined,
      `${L(i)}.filter_chains[0]`,
      Object.keys(chain),
      "must be plaintext without a match (the sidecar models TLS on the ingress listener only)",
    );
    const { filter, rbac } = networkFilters(chain, `${L(i)}.filter_chains[0]`);
    demand(!rbac, `${L(i)}.filter_chains[0].filters`, chain.filters.length, NO_RBAC_HERE);
    if (!isTcpProxy(filter)) {
      const at = `${L(i)}.filter_chains[0].filters[0]`;
      demand(!httpRbac(filter, at), `${at}.typed_config.http_filters`, "RBAC", NO_RBAC_HERE);
    }
    return filter;
  };

  // Ingress: which chain each connection takes, as Envoy's filter chain match picks it.
  const { l: ingress, i: ingressAt } = ofKind("ingress")[0];
  const ingressAddress = socketAddress(ingress.address, `${L(ingressAt)}.address`);
  requireBind(`${L(ingressAt)}.address.socket_address.address`, ingressAddress.ip, "pod");
  const tlsInspector = ingress.listener_filters !== undefined;
  const byMatch = new Map<string, number>();
  for (const [c, chain] of ingress.filter_chains.entries()) {
    const key = chain.filter_chain_match?.transport_protocol ?? "";
    demand(
      !byMatch.has(key),
      `${L(ingressAt)}.filter_chains[${c}].filter_chain_match`,
      chain.filter_chain_match ?? null,
      `repeats the match of filter_chains[${byMatch.get(key)}] (Envoy refuses the listener)`,
    );
    demand(
      key === "" || tlsInspector,
      `${L(ingressAt)}.filter_chains[${c}].filter_chain_match.transport_protocol`,
      key,
      "needs the tls_inspector listener filter: without it every connection is raw_buffer",
    );
    byMatch.set(key, c);
  }
  let appCluster: string | undefined;
  const chainPlan = (c: number | undefined): ChainPlan | undefined => {
    if (c === undefined) return undefined;
    const path = `${L(ingressAt)}.filter_chains[${c}]`;
    const chain = ingress.filter_chains[c];
    const { filter, rbac: networkRbac } = networkFilters(chain, path);
    const ts = chain.transport_socket?.typed_config;
    const tls = ts
      ? tlsPlan(ts.common_tls_context ?? {}, `${path}.transport_socket.typed_config`, "downstream")
      : undefined;
    const toApp = (cluster: string, where: string) => {
      use(cluster, "app", where);
      demand(
        appCluster === undefined || appCluster === cluster,
        where,
        cluster,
        `must be the app cluster the other chain uses (${appCluster}): the sidecar models one app`,
      );
      appCluster = cluster;
    };
    const base = { index: c, tls, requireClientCertificate: ts?.require_client_certificate === true };
    if (isTcpProxy(filter)) {
      toApp(
        text(filter.typed_config.cluster, `${path}.filters[0].typed_config.cluster`),
        `${path}.filters[0].typed_config.cluster`,
      );
      return { ...base, protocol: "tcp", ...(networkRbac ? { rbac: networkRbac } : {}) };
    }
    const host = virtualHost(filter, `${path}.filters[0]`);
    const http = httpPlan(filter, `${path}.filters[0]`);
    const rbac = httpRbac(filter, `${path}.filters[0]`);
    const routesAt = `${path}.filters[0].typed_config.route_config.virtual_hosts[0].routes`;
    const mtls = host.routes.filter((r) => byName(r.cluster)?.transport_socket !== undefined);
    if (mtls.length === 0) {
      // A sidecar's: every request to the app, as one catch-all route.
      const r = host.routes[0];
      demand(
        host.routes.length === 1 &&
          r.prefix === "/" &&
          r.headers.length === 0 &&
          !r.prefixRewrite &&
          !r.hostRewrite &&
          host.domains.includes("*"),
        routesAt,
        host.routes,
        'to the app must be one route, prefix "/", no header, no rewrite, domain "*" (what the sidecar models)',
      );
      toApp(r.cluster, `${routesAt}[0].route.cluster`);
      const protocol = isHttp2Cluster(byName(r.cluster)) ? ("http2" as const) : ("http1" as const);
      demand(
        protocol === "http1" || isDefaultHttp(http),
        `${path}.filters[0].typed_config`,
        http,
        "must keep Envoy's defaults on an HTTP/2 chain: the sidecar models the connection manager's options on HTTP/1.1",
      );
      return { ...base, protocol, http, ...(rbac ? { rbac } : {}) };
    }
    demand(!rbac, `${path}.filters[0].typed_config.http_filters`, "RBAC", NO_RBAC_HERE);
    // A gateway's: every route to a mesh cluster over mTLS, HTTP/1.1 end to end.
    for (const [i, r] of host.routes.entries()) {
      use(r.cluster, "mesh", `${routesAt}[${i}].route.cluster`);
      demand(
        byName(r.cluster).transport_socket !== undefined && !isHttp2Cluster(byName(r.cluster)),
        `${routesAt}[${i}].route.cluster`,
        r.cluster,
        "must be an HTTP/1.1 mTLS cluster, as every gateway route (the sidecar's gateway router is HTTP/1.1)",
      );
    }
    return { ...base, protocol: "http1", gateway: host, http };
  };
  // tls_inspector marks a ClientHello "tls" and anything else "raw_buffer"; a chain without a match takes what
  // no chain matches exactly. Without the inspector every connection is raw_buffer.
  const onPlaintext = chainPlan(byMatch.get("raw_buffer") ?? byMatch.get(""));
  const onTls = tlsInspector ? chainPlan(byMatch.get("tls") ?? byMatch.get("")) : undefined;
  // A chain no connection can take would hide a mistake: Envoy runs it never, the sidecar must not either.
  const chosen = new Set([onTls?.index, onPlaintext?.index]);
  for (const c of byMatch.values()) {
    demand(
      chosen.has(c),
      `${L(ingressAt)}.filter_chains[${c}]`,
      ingress.filter_chains[c].filter_chain_match ?? {},
      "is never chosen",
    );
  }

  // Readiness: the kubelet's routes, each to the admin interface over its socket.
  const { l: readiness, i: readinessAt } = ofKind("readiness")[0];
  const readinessAddress = socketAddress(readiness.address, `${L(readinessAt)}.address`);
  requireBind(`${L(readinessAt)}.address.socket_address.address`, readinessAddress.ip, "pod");
  const readinessFilter = plainChain(readiness, readinessAt);
  demand(
    !isTcpProxy(readinessFilter),
    `${L(readinessAt)}.filter_chains[0].filters[0]`,
    "tcp_proxy",
    "must be HTTP",
  );
  const readinessHost = virtualHost(readinessFilter, `${L(readinessAt)}.filter_chains[0].filters[0]`);
  demand(
    isDefaultHttp(httpPlan(readinessFilter, `${L(readinessAt)}.filter_chains[0].filters[0]`)),
    `${L(readinessAt)}.filter_chains[0].filters[0].typed_config`,
    "connection manager options",
    "must keep Envoy's defaults: the sidecar's readiness listener hands requests to the admin as sent",
  );
  const readinessRoutes = `${L(readinessAt)}.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes`;
  for (const [i, r] of readinessHost.routes.entries()) {
    const at = `${readinessRoutes}[${i}]`;
    use(r.cluster, "admin", `${at}.route.cluster`);
    const a = byName(r.cluster).load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address;
    demand(
      a?.pipe?.path === admin.path && a.socket_address === undefined,
      `${at}.route.cluster`,
      r.cluster,
      `must be the admin interface (pipe ${admin.path}), which is what the sidecar serves`,
    );
    demand(
      !r.prefixRewrite && !r.hostRewrite,
      at,
      r,
      "must not rewrite (the admin sees the request as sent)",
    );
  }

  const egress: EgressPlan[] = ofKind("egress").map(({ l, i }) => {
    const a = socketAddress(l.address, `${L(i)}.address`);
    requireBind(`${L(i)}.address.socket_address.address`, a.ip, "loopback");
    const filter = plainChain(l, i);
    const at = `${L(i)}.filter_chains[0].filters[0]`;
    if (isTcpProxy(filter)) {
      const cluster = text(filter.typed_config.cluster, `${at}.typed_config.cluster`);
      use(cluster, "mesh", `${at}.typed_config.cluster`);
      return {
        listener: l.name,
        address: `${a.ip}:${a.port}`,
        protocol: "tcp" as const,
        domains: [],
        routes: [{ name: cluster, prefix: "/", headers: [], cluster }],
        statRoot: `listener.${a.ip}_${a.port}`,
        ignoreGlobalConnLimit: l.ignore_global_conn_limit === true,
      };
    }
    const host = virtualHost(filter, at);
    for (const [r, route] of host.routes.entries())
      use(
        route.cluster,
        "mesh",
        `${at}.typed_config.route_config.virtual_hosts[0].routes[${r}].route.cluster`,
      );
    const http2 = new Set(host.routes.map((r) => isHttp2Cluster(byName(r.cluster))));
    demand(
      http2.size === 1,
      `${at}.typed_config.route_config.virtual_hosts[0].routes`,
      host.routes.map((r) => r.cluster),
      "must all go to clusters of one protocol (HTTP/1.1 or HTTP/2): the sidecar serves one per listener",
    );
    const http = httpPlan(filter, at);
    demand(
      !http2.has(true) || isDefaultHttp(http),
      `${at}.typed_config`,
      http,
      "must keep Envoy's defaults on an HTTP/2 listener: the sidecar models the connection manager's options on HTTP/1.1",
    );
    return {
      listener: l.name,
      address: `${a.ip}:${a.port}`,
      protocol: http2.has(true) ? ("http2" as const) : ("http1" as const),
      domains: host.domains,
      routes: host.routes,
      http,
      statRoot: `listener.${a.ip}_${a.port}`,
      ignoreGlobalConnLimit: l.ignore_global_conn_limit === true,
    };
  });

  // Every cluster has exactly one role the sidecar models, with that role's shape.
  const planned: ClusterPlan[] = [];
  let app: string | undefined;
  for (const [i, c] of clusters.entries()) {
    const role = [...(roles.get(c.name) ?? [])];
    demand(
      role.length === 1 || (role.length === 0 && c.transport_socket !== undefined),
      `${C(i)}`,
      c.name,
      role.length === 0
        ? "is used by nothing the sidecar models (an SDS, app, admin or mTLS mesh cluster)"
        : `is used as ${role.join(" and ")}; the sidecar models one role per cluster`,
    );
    const endpoint = c.load_assignment?.endpoints?.[0]?.lb_endpoints?.[0]?.endpoint?.address;
    demand(endpoint !== undefined, `${C(i)}.load_assignment`, c.load_assignment, "needs one endpoint");
    const connectTimeoutMs = durationMs(c.connect_timeout ?? "5s", `${C(i)}.connect_timeout`);
    // Envoy's default discovery type is STATIC.
    const type = c.type ?? "STATIC";
    if (c.transport_socket === undefined) {
      demand(
        c.health_checks === undefined && c.common_lb_config === undefined,
        C(i),
        c.name,
        "a plaintext cluster has no health check or load-balancing option in the sidecar",
      );
      if (role[0] === "sds") continue;
      demand(type === "STATIC", `${C(i)}.type`, type, `must be STATIC for the ${role[0]} cluster`);
      // Its pipe endpoint was checked with the readiness routes.
      if (role[0] === "admin") continue;
      const a = socketAddress(
        endpoint,
        `${C(i)}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address`,
      );
      if (role[0] === "app") {
        demand(
          a.ip === "127.0.0.1",
          `${C(i)}.load_assignment`,
          a.ip,
          "must be 127.0.0.1: the app in the pod",
        );
        app = `${a.ip}:${a.port}`;
      }
      continue;
    }
    demand(
      role[0] !== "sds" && role[0] !== "admin" && role[0] !== "app",
      C(i),
      c.name,
      `must not use TLS as the ${role[0]} cluster`,
    );
    const a = socketAddress(
      endpoint,
      `${C(i)}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address`,
    );
    demand(
      type !== "STATIC" || IPV4.test(a.ip),
      `${C(i)}.load_assignment`,
      a.ip,
      "must be an IP address in a STATIC cluster (Envoy resolves no name there)",
    );
    const hc = c.health_checks?.[0];
    const hcAt = `${C(i)}.health_checks[0]`;
    const kinds = hc
      ? (["http_health_check", "grpc_health_check", "tcp_health_check"] as const).filter((k) => hc[k])
      : [];
    demand(!hc || kinds.length === 1, hcAt, kinds, "needs exactly one of http, grpc and tcp health checks");
    const panic = c.common_lb_config?.healthy_panic_threshold?.value ?? 50;
    demand(
      typeof panic === "number" && panic >= 0 && panic <= 100,
      `${C(i)}.common_lb_config.healthy_panic_threshold.value`,
      panic,
      "must be a percentage (0-100)",
    );
    planned.push({
      name: c.name,
      endpoint: `${a.ip}:${a.port}`,
      tls: tlsPlan(
        c.transport_socket.typed_config.common_tls_context ?? {},
        `${C(i)}.transport_socket.typed_config`,
        "upstream",
      ),
      http2: isHttp2Cluster(c),
      connectTimeoutMs,
      healthyPanicThresholdPercent: panic,
      ...(hc
        ? {
            healthCheck: {
              kind:
                kinds[0] === "grpc_health_check" ? "grpc" : kinds[0] === "tcp_health_check" ? "tcp" : "http",
              ...(hc.http_health_check
                ? { path: text(hc.http_health_check.path, `${hcAt}.http_health_check.path`) }
                : {}),
              http2: isHttp2Cluster(c) || hc.http_health_check?.codec_client_type === "HTTP2",
              timeoutMs: durationMs(hc.timeout, `${hcAt}.timeout`),
              intervalMs: durationMs(hc.interval, `${hcAt}.interval`),
              healthyThreshold: positiveInt(hc.healthy_threshold, `${hcAt}.healthy_threshold`),
              unhealthyThreshold: positiveInt(hc.unhealthy_threshold, `${hcAt}.unhealthy_threshold`),
            },
          }
        : {}),
    });
  }
  demand(
    isHttp2Cluster(sds),
    `${C(clusterIndex.get(sds.name) as number)}`,
    sds.name,
    "must speak HTTP/2 (SDS is gRPC)",
  );

  // The overload manager's connection cap. The sidecar's admin interface counts no connection, so Envoy's must not.
  const monitor = bootstrap.overload_manager?.resource_monitors?.[0];
  const capAt =
    "bootstrap.overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections";
  const cap = monitor?.typed_config?.max_active_downstream_connections;
  const maxConnections = monitor === undefined ? undefined : Number(cap);
  if (maxConnections !== undefined) {
    demand(
      (typeof cap === "string" || typeof cap === "number") &&
        Number.isSafeInteger(maxConnections) &&
        maxConnections > 0,
      capAt,
      cap,
      "must be a positive integer (int64: a number or a decimal string)",
    );
    demand(
      bootstrap.admin?.ignore_global_conn_limit === true,
      "bootstrap.admin.ignore_global_conn_limit",
      bootstrap.admin?.ignore_global_conn_limit,
      "must be true with a connection cap: the sidecar's admin interface counts toward none",
    );
  }

  return {
    nodeId: bootstrap.node?.id,
    nodeCluster: bootstrap.node?.cluster,
    nodeMetadata: bootstrap.node?.metadata ?? {},
    sdsSocket: sdsAddress.pipe.path,
    secrets: [...secretNames].sort(),
    waitForSecrets: true,
    ingress: {
      listener: ingress.name,
      port: ingressAddress.port,
      statRoot: `listener.${ingressAddress.ip}_${ingressAddress.port}`,
      tlsInspector,
      ...(onTls ? { onTls } : {}),
      ...(onPlaintext ? { onPlaintext } : {}),
      ignoreGlobalConnLimit: ingress.ignore_global_conn_limit === true,
    },
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(app ? { app } : {}),
    appHttp2: appCluster !== undefined && isHttp2Cluster(byName(appCluster)),
    admin: { socket: admin.path, mode: admin.mode },
    readiness: {
      port: readinessAddress.port,
      statRoot: `listener.${readinessAddress.ip}_${readinessAddress.port}`,
      ignoreGlobalConnLimit: readiness.ignore_global_conn_limit === true,
      ...readinessHost,
    },
    egress,
    clusters: planned,
  };
}
