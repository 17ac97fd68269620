/**
 * Envoy's HTTP routing as the local sidecar runs it: the virtual host by the request's Host (an exact domain,
 * case-insensitive, or "*"), then the first route whose path match and exact headers all match, then the
 * route's rewrites.
 */
import type { RoutePlan, VirtualHostPlan } from "./bootstrapPlan";

type HeaderValue = string | string[] | undefined;

export interface RouteRequest {
  readonly host: string;
  readonly method: string;
  /** The request target as sent (`:path`), query string included. */
  readonly path: string;
  readonly header: (name: string) => HeaderValue;
}

/** What `prefix` and `path` compare against: the path without its query string and fragment, as Envoy does. */
export const pathOnly = (target: string) => target.split(/[?#]/, 1)[0];

/** A header matcher's view of a request: pseudo-headers as HTTP/2 names them (`:path` keeps the query). */
export function headerValue(request: RouteRequest, name: string): HeaderValue {
  if (name === ":path") return request.path;
  if (name === ":method") return request.method;
  if (name === ":authority") return request.host;
  return request.header(name);
}

/** The route a request takes, or undefined (Envoy answers 404). */
export function pickRoute(host: VirtualHostPlan, request: RouteRequest): RoutePlan | undefined {
  const name = request.host.toLowerCase();
  if (!host.domains.some((d) => d === "*" || d.toLowerCase() === name)) return undefined;
  const path = pathOnly(request.path);
  return host.routes.find(
    (r) => pathMatches(r, path) && r.headers.every((h) => headerValue(request, h.name) === h.value),
  );
}

function pathMatches(r: RoutePlan, path: string): boolean {
  if (r.prefix !== undefined) return path.startsWith(r.prefix);
  const separated = r.pathSeparatedPrefix;
  if (separated !== undefined) return path === separated || path.startsWith(`${separated}/`);
  return path === r.path;
}

/** Path and Host as the upstream sees them: prefix_rewrite replaces the matched prefix (or path), host_rewrite the Host. */
export function rewritten(route: RoutePlan, path: string, host: string): { path: string; host: string } {
  const matched = route.prefix ?? route.pathSeparatedPrefix ?? route.path ?? "";
  return {
    path: route.prefixRewrite === undefined ? path : route.prefixRewrite + path.slice(matched.length),
    host: route.hostRewrite ?? host,
  };
}
