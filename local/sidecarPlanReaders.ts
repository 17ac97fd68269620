/**
 * Readers of single bootstrap messages for the sidecar's plan (bootstrapPlan.ts): each returns what the plan
 * needs, or refuses the value with its path, the value and the rule. Pure.
 */
import type { HttpPlan, RoutePlan, TlsPlan, VirtualHostPlan } from "./bootstrapPlan";
import { HTTP_RBAC, NETWORK_RBAC, type RbacPlan, rbacPlan } from "./sidecarRbac";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
const TCP_PROXY = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** Refuses what the sidecar cannot run as Envoy would: the field's path, its value, and the rule. */
function refuse(path: string, value: unknown, rule: string): never {
  throw new Error(
    `the local sidecar cannot run this bootstrap faithfully:\n  ${path}: ${JSON.stringify(value)} ${rule}`,
  );
}

export function demand(ok: boolean, path: string, value: unknown, rule: string): void {
  if (!ok) refuse(path, value, rule);
}

/** A proto3 JSON Duration in whole or fractional seconds ("1s", "0.5s"), in ms; must be positive unless `zero`. */
export function durationMs(value: unknown, path: string, zero = false): number {
  demand(
    typeof value === "string" && /^\d+(\.\d{1,9})?s$/.test(value),
    path,
    value,
    "must be a duration in seconds",
  );
  const ms = Number((value as string).slice(0, -1)) * 1000;
  demand(zero || ms > 0, path, value, "must be positive");
  return ms;
}

export function positiveInt(value: unknown, path: string): number {
  demand(Number.isInteger(value) && (value as number) > 0, path, value, "must be a positive integer");
  return value as number;
}

export function text(value: unknown, path: string): string {
  demand(typeof value === "string" && value.length > 0, path, value, "must be a non-empty string");
  return value as string;
}

export const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export function socketAddress(a: Json, path: string): { ip: string; port: number } {
  demand(a?.socket_address !== undefined && a.pipe === undefined, path, a, "must be a socket address");
  const { address, port_value: port } = a.socket_address;
  demand(
    Number.isInteger(port) && port > 0 && port < 65536,
    `${path}.socket_address.port_value`,
    port,
    "must be a port",
  );
  return { ip: text(address, `${path}.socket_address.address`), port };
}

/**
 * The admin interface's address: a file socket with an explicit mode, which the sidecar binds at its placement's
 * path and chmods as Envoy does. A TCP admin is refused: every container of a pod shares its loopback.
 */
export function adminPipe(a: Json, path: string): { path: string; mode: number } {
  demand(
    a?.pipe !== undefined && a.socket_address === undefined,
    path,
    a,
    "must be a pipe (a Unix socket): a TCP admin port is open to every container of the pod, and the sidecar " +
      "serves admin on a socket only",
  );
  const socket = text(a.pipe.path, `${path}.pipe.path`);
  demand(
    socket.startsWith("/"),
    `${path}.pipe.path`,
    socket,
    "must be an absolute file path: an abstract socket (@) is open to the whole network namespace, which the " +
      "sidecar does not model",
  );
  const mode = a.pipe.mode;
  demand(
    Number.isInteger(mode) && mode > 0 && mode <= 0o777,
    `${path}.pipe.mode`,
    mode,
    "must be a mode in 1-0777: unset, Envoy leaves the socket's permissions to its umask, which the sidecar " +
      "does not model",
  );
  return { path: socket, mode };
}

/** Where a listener may bind: the sidecar stands in for these addresses with its placement's loopback ports. */
export function requireBind(path: string, ip: string, kind: "pod" | "loopback"): void {
  if (kind === "pod") demand(ip === "0.0.0.0", path, ip, "must be 0.0.0.0: every pod interface, as modelled");
  if (kind === "loopback") {
    demand(
      IPV4.test(ip) && ip.startsWith("127."),
      path,
      ip,
      "must be a 127.0.0.0/8 address: an egress listener serves the pod's own app only",
    );
  }
}

export function tlsPlan(ctx: Json, path: string, direction: "downstream" | "upstream"): TlsPlan {
  const combined = ctx.combined_validation_context;
  const validation =
    combined?.validation_context_sds_secret_config ?? ctx.validation_context_sds_secret_config;
  demand(
    (combined === undefined) !== (ctx.validation_context_sds_secret_config === undefined),
    `${path}.common_tls_context`,
    Object.keys(ctx),
    "needs exactly one of combined_validation_context and validation_context_sds_secret_config: without one " +
      "Envoy verifies no peer, which the sidecar does not model",
  );
  demand(
    combined === undefined || combined.validation_context_sds_secret_config !== undefined,
    `${path}.common_tls_context.combined_validation_context`,
    combined,
    "needs validation_context_sds_secret_config",
  );
  const sans: Json[] = combined?.default_validation_context?.match_typed_subject_alt_names ?? [];
  return {
    certificate: text(
      ctx.tls_certificate_sds_secret_configs?.[0]?.name,
      `${path}.common_tls_context.tls_certificate_sds_secret_configs`,
    ),
    trust: text(validation.name, `${path}.common_tls_context validation secret name`),
    allowedSans: sans.map((m, i) =>
      text(
        m.matcher?.exact,
        `${path}.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[${i}].matcher.exact`,
      ),
    ),
    // Envoy's defaults when unset: TLS 1.2 minimum; maximum TLS 1.3 as a server, TLS 1.2 as a client.
    minVersion: ctx.tls_params?.tls_minimum_protocol_version ?? "TLSv1_2",
    maxVersion:
      ctx.tls_params?.tls_maximum_protocol_version ?? (direction === "downstream" ? "TLSv1_3" : "TLSv1_2"),
    alpn: ctx.alpn_protocols ?? [],
  };
}

export const isHttp2Cluster = (c: Json) =>
  c.typed_extension_protocol_options?.[HTTP_OPTIONS]?.explicit_http_config?.http2_protocol_options !==
  undefined;

export const isTcpProxy = (filter: Json) => filter.typed_config["@type"].endsWith(TCP_PROXY);

function routePlan(r: Json, path: string): RoutePlan {
  const m = r.match ?? {};
  demand(
    [m.prefix, m.path, m.path_separated_prefix].filter((x) => x !== undefined).length === 1,
    `${path}.match`,
    m,
    "needs exactly one of prefix, path_separated_prefix and path",
  );
  const separated = m.path_separated_prefix;
  demand(
    separated === undefined || /^[^?#]+[^?#/]$/.test(separated),
    `${path}.match.path_separated_prefix`,
    separated,
    "must have no ? or # and not end in / (Envoy refuses it)",
  );
  const name = r.name ?? "";
  return {
    name,
    ...(m.prefix !== undefined ? { prefix: text(m.prefix, `${path}.match.prefix`) } : {}),
    ...(separated !== undefined ? { pathSeparatedPrefix: separated } : {}),
    ...(m.path !== undefined ? { path: text(m.path, `${path}.match.path`) } : {}),
    headers: (m.headers ?? []).map((h: Json, i: number) => ({
      name: text(h.name, `${path}.match.headers[${i}].name`).toLowerCase(),
      value: h.string_match?.exact ?? refuse(`${path}.match.headers[${i}]`, h, "needs string_match.exact"),
    })),
    cluster: text(r.route?.cluster, `${path}.route.cluster`),
    ...(r.route.prefix_rewrite !== undefined ? { prefixRewrite: r.route.prefix_rewrite } : {}),
    ...(r.route.host_rewrite_literal !== undefined ? { hostRewrite: r.route.host_rewrite_literal } : {}),
  };
}

export function virtualHost(filter: Json, path: string): VirtualHostPlan {
  const routeConfig = filter.typed_config.route_config;
  demand(
    routeConfig !== undefined,
    `${path}.typed_config`,
    Object.keys(filter.typed_config),
    "needs route_config",
  );
  const host = routeConfig.virtual_hosts[0];
  const hostPath = `${path}.typed_config.route_config.virtual_hosts[0]`;
  const domains: string[] = host.domains ?? [];
  demand(domains.length > 0, `${hostPath}.domains`, domains, "needs at least one domain");
  for (const [i, d] of domains.entries()) {
    // Envoy's wildcards (*.example.com, example.*) match differently from an exact name: not modelled.
    demand(
      d === "*" || !d.includes("*"),
      `${hostPath}.domains[${i}]`,
      d,
      'must be an exact name or "*" (the sidecar models no partial wildcard)',
    );
  }
  return {
    domains,
    routes: (host.routes ?? []).map((r: Json, i: number) => routePlan(r, `${hostPath}.routes[${i}]`)),
  };
}

/** Envoy's defaults for what an HTTP connection manager does to requests, where the bootstrap sets nothing. */
export const HTTP_DEFAULTS: HttpPlan = {
  statPrefix: "",
  useRemoteAddress: false,
  xffNumTrustedHops: 0,
  normalizePath: false,
  mergeSlashes: false,
  rejectEscapedSlashes: false,
  streamIdleTimeoutMs: 300_000,
  suppressEnvoyHeaders: false,
};

/** An HTTP connection manager's request handling (and its router's headers), Envoy's defaults where unset. */
export function httpPlan(filter: Json, path: string): HttpPlan {
  const c = filter.typed_config;
  const at = `${path}.typed_config`;
  const hops = c.xff_num_trusted_hops ?? 0;
  demand(Number.isInteger(hops) && hops >= 0, `${at}.xff_num_trusted_hops`, hops, "must be a count");
  const headersTimeout =
    c.request_headers_timeout === undefined
      ? 0
      : durationMs(c.request_headers_timeout, `${at}.request_headers_timeout`, true);
  const idle =
    c.stream_idle_timeout === undefined
      ? HTTP_DEFAULTS.streamIdleTimeoutMs
      : durationMs(c.stream_idle_timeout, `${at}.stream_idle_timeout`, true);
  // Envoy arms the idle timer when the stream starts, before its headers are in; the sidecar arms it once they
  // are, which is the same only while the header timeout fires first.
  demand(
    idle === 0 || (headersTimeout > 0 && headersTimeout < idle) || c.stream_idle_timeout === undefined,
    `${at}.stream_idle_timeout`,
    c.stream_idle_timeout,
    "must be longer than request_headers_timeout (the sidecar starts it once the headers are in)",
  );
  return {
    statPrefix: text(c.stat_prefix, `${at}.stat_prefix`),
    useRemoteAddress: c.use_remote_address === true,
    xffNumTrustedHops: hops,
    normalizePath: c.normalize_path === true,
    mergeSlashes: c.merge_slashes === true,
    rejectEscapedSlashes: c.path_with_escaped_slashes_action === "REJECT_REQUEST",
    ...(headersTimeout > 0 ? { requestHeadersTimeoutMs: headersTimeout } : {}),
    streamIdleTimeoutMs: idle,
    suppressEnvoyHeaders: c.http_filters?.at(-1)?.typed_config?.suppress_envoy_headers === true,
  };
}

/** True when the connection manager does only what Envoy does by default (what the HTTP/2 paths model). */
export const isDefaultHttp = (h: HttpPlan) =>
  (Object.keys(HTTP_DEFAULTS) as (keyof HttpPlan)[]).every(
    (k) => k === "statPrefix" || h[k] === HTTP_DEFAULTS[k],
  ) && h.requestHeadersTimeoutMs === undefined;

/**
 * A chain's network filters: its protocol filter, alone or after network RBAC, which the sidecar models before
 * tcp_proxy only (an HTTP chain authorizes with the HTTP RBAC filter, which sees the request).
 */
export function networkFilters(chain: Json, path: string): { filter: Json; rbac?: RbacPlan } {
  const filters: Json[] = chain.filters ?? [];
  const at = `${path}.filters`;
  demand(
    filters.length === 1 || filters.length === 2,
    at,
    filters.length,
    "must be one protocol filter, or network RBAC and tcp_proxy",
  );
  const filter = filters[filters.length - 1] ?? {};
  demand(
    filter.typed_config["@type"] !== NETWORK_RBAC,
    `${at}[${filters.length - 1}]`,
    filter.name,
    "must be the protocol filter (RBAC comes first)",
  );
  if (filters.length === 1) return { filter };
  demand(
    filters[0].typed_config["@type"] === NETWORK_RBAC && isTcpProxy(filter),
    `${at}[0]`,
    filters[0].name,
    "must be network RBAC before tcp_proxy: the only second network filter the sidecar models",
  );
  const config = filters[0].typed_config;
  return {
    filter,
    rbac: rbacPlan(
      config,
      `${at}[0].typed_config`,
      `${text(config.stat_prefix, `${at}[0].typed_config.stat_prefix`)}rbac.`,
    ),
  };
}

/** An HTTP connection manager's RBAC filter, if any: at most one, first, before the router, which is last. */
export function httpRbac(filter: Json, path: string): RbacPlan | undefined {
  const filters: Json[] = filter.typed_config.http_filters ?? [];
  const at = `${path}.typed_config.http_filters`;
  const types = filters.map((f) => f.typed_config?.["@type"]);
  demand(
    types.length > 0 &&
      types.length <= 2 &&
      types[types.length - 1] !== HTTP_RBAC &&
      types.slice(0, -1).every((t) => t === HTTP_RBAC),
    at,
    filters.map((f) => f.name),
    "must be the router, after at most one RBAC filter (what the sidecar models)",
  );
  if (filters.length === 1) return undefined;
  const prefix = text(filter.typed_config.stat_prefix, `${path}.typed_config.stat_prefix`);
  return rbacPlan(filters[0].typed_config, `${at}[0].typed_config`, `http.${prefix}.rbac.`);
}
