/**
 * What Envoy's HTTP connection manager does to a request before routing, as the local sidecar runs it (the plan's
 * HttpPlan): path normalization, and the headers it rewrites or strips. No address is internal (Envoy >= 1.36
 * trusts none unless internal_address_config says so, which the sidecar refuses), so every request loses the
 * x-envoy-* headers that steer the router; an edge (use_remote_address) also loses the ones that name a
 * downstream service, and learns its client from the connection or the trusted X-Forwarded-For hops.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { HttpPlan } from "./bootstrapPlan";

/** Stripped from every request no internal address sent (Envoy's cleanInternalHeaders). */
const ROUTER_CONTROL = [
  "x-envoy-retriable-status-codes",
  "x-envoy-retriable-header-names",
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-upstream-rq-timeout-alt-response",
  "x-envoy-expected-rq-timeout-ms",
  "x-envoy-force-trace",
  "x-envoy-ip-tags",
  "x-envoy-original-url",
  "x-envoy-hedge-on-per-try-timeout",
];
/** Also stripped from an edge request. */
const EDGE_ONLY = [
  "x-envoy-decorator-operation",
  "x-envoy-downstream-service-cluster",
  "x-envoy-downstream-service-node",
];

/** Envoy's route timeout when the route sets none: what its router announces upstream. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

/** RFC 3986 section 5.2.4: "." and ".." segments removed. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split("/");
  for (const [i, s] of segments.entries()) {
    const last = i === segments.length - 1;
    if (s === ".") {
      if (last) out.push("");
    } else if (s === "..") {
      if (out.length > 1) out.pop();
      if (last) out.push("");
    } else out.push(s);
  }
  return out.join("/");
}

/**
 * The request target as the connection manager forwards and routes it, or "reject" (Envoy answers 400). Escaped
 * slashes are checked first, then dot segments removed, then slashes merged, as Envoy orders them.
 */
export function normalizeTarget(target: string, h: HttpPlan): string | "reject" {
  const cut = target.search(/[?#]/);
  let path = cut < 0 ? target : target.slice(0, cut);
  const rest = cut < 0 ? "" : target.slice(cut);
  if (h.rejectEscapedSlashes && /%(2f|5c)/i.test(path)) return "reject";
  if (h.normalizePath) {
    if (!path.startsWith("/")) return "reject";
    path = removeDotSegments(path);
  }
  if (h.mergeSlashes) path = path.replace(/\/{2,}/g, "/");
  return path + rest;
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(",") : v);

/**
 * The request headers after the connection manager (and, unless suppressed, with the router's own), for a
 * request from `peer` over TLS or not. Mutates and returns `headers`.
 */
export function mutateRequestHeaders(
  headers: IncomingHttpHeaders,
  h: HttpPlan,
  peer: string,
  tls: boolean,
): IncomingHttpHeaders {
  const forwardedFor = one(headers["x-forwarded-for"]);
  for (const name of ROUTER_CONTROL) delete headers[name];
  if (h.useRemoteAddress) {
    for (const name of EDGE_ONLY) delete headers[name];
    // The client: the trusted hops' entry of X-Forwarded-For (counted from the right), else the peer.
    const entries = (forwardedFor ?? "")
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean);
    const trusted = h.xffNumTrustedHops > 0 ? entries[entries.length - h.xffNumTrustedHops] : undefined;
    headers["x-forwarded-for"] = forwardedFor ? `${forwardedFor},${peer}` : peer;
    headers["x-envoy-external-address"] = trusted ?? peer;
    if (h.xffNumTrustedHops === 0 || headers["x-forwarded-proto"] === undefined) {
      headers["x-forwarded-proto"] = tls ? "https" : "http";
    }
  } else if (headers["x-forwarded-proto"] === undefined) {
    headers["x-forwarded-proto"] = tls ? "https" : "http";
  }
  if (!h.suppressEnvoyHeaders) headers["x-envoy-expected-rq-timeout-ms"] = String(DEFAULT_ROUTE_TIMEOUT_MS);
  return headers;
}
