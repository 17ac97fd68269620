/**
 * Envoy's HTTP routing as the local sidecar runs it: the virtual host by the request's Host (its `domains`, "*"
 * for any), then the first route whose path prefix and exact headers all match, then the route's rewrites.
 */
import type { RoutePlan } from "./bootstrapPlan";

type HeaderValue = string | string[] | undefined;

/** The route a request takes, or undefined (Envoy answers 404). */
export function pickRoute(
  domains: readonly string[],
  routes: readonly RoutePlan[],
  request: { readonly host: string; readonly path: string; readonly header: (name: string) => HeaderValue },
): RoutePlan | undefined {
  if (!domains.includes("*") && !domains.includes(request.host)) return undefined;
  return routes.find(
    (r) => request.path.startsWith(r.prefix) && r.headers.every((h) => request.header(h.name) === h.value),
  );
}

/** Path and Host as the upstream sees them: prefix_rewrite replaces the matched prefix, host_rewrite the Host. */
export function rewritten(route: RoutePlan, path: string, host: string): { path: string; host: string } {
  return {
    path: route.prefixRewrite === undefined ? path : route.prefixRewrite + path.slice(route.prefix.length),
    host: route.hostRewrite ?? host,
  };
}
