/**
 * An ingress gateway's routes, checked (App Mesh GatewayRoute semantics: a path prefix and an optional exact
 * header to one of its virtual services) and put in the order both data planes try them. Pure.
 */
import { type Checker, isDnsSubdomain } from "../core/validation";

export interface GatewayRouteArgs {
  /** The GatewayRoute's name. Default `<gateway>-<virtualService>`. */
  readonly name?: string;
  /**
   * Path prefix, e.g. "/color": on the envoy data plane it matches /color and /color/..., never /colorX (Envoy's
   * path_separated_prefix); a prefix ending in "/" matches below it. App Mesh rewrites it to "/" on the way, and
   * so does the envoy data plane.
   */
  readonly prefix: string;
  /** Also match this header exactly. */
  readonly header?: { readonly name: string; readonly value: string };
  /** One of the gateway's backends, by name. */
  readonly virtualService: string;
}

export interface GatewayRoute {
  readonly name: string;
  readonly prefix: string;
  readonly header?: { readonly name: string; readonly value: string };
  readonly virtualService: string;
  /** App Mesh priority (0 is tried first): the order of the Envoy routes too. */
  readonly priority: number;
}

/** Checked routes in the order they are tried: longest prefix first, then as given. */
export function checkGatewayRoutes(
  c: Checker,
  gateway: string,
  routes: readonly GatewayRouteArgs[],
  backends: readonly string[],
): GatewayRoute[] {
  c.check(routes.length > 0, "routes", routes, "needs at least one route");
  const checked = routes.map((r, i) => {
    const field = `routes[${i}]`;
    const name = r.name ?? `${gateway}-${r.virtualService}`;
    c.check(isDnsSubdomain(name), `${field}.name`, name, "must be a Kubernetes name (a GatewayRoute's)");
    const clash = routes.findIndex((o, j) => j < i && (o.name ?? `${gateway}-${o.virtualService}`) === name);
    c.check(clash < 0, `${field}.name`, name, `repeats the name of routes[${clash}]; name them apart`);
    c.check(
      typeof r.prefix === "string" && /^\/[^\s?#]{0,254}$/.test(r.prefix),
      `${field}.prefix`,
      r.prefix,
      "must be a path prefix starting with / (at most 255 characters, no spaces, no ? or #: routes match the path alone)",
    );
    const same = routes.findIndex((o, j) => j < i && o.prefix === r.prefix);
    c.check(
      same < 0,
      `${field}.prefix`,
      r.prefix,
      `repeats the prefix of routes[${same}]: two routes would compete for the same requests`,
    );
    if (r.header !== undefined) {
      c.check(
        /^[a-z0-9_-]{1,50}$/.test(r.header.name ?? ""),
        `${field}.header.name`,
        r.header.name,
        "must be a lowercase header name of 1-50 characters",
      );
      c.check(
        typeof r.header.value === "string" && r.header.value.length > 0 && r.header.value.length <= 255,
        `${field}.header.value`,
        r.header.value,
        "must be the exact value to match (1-255 characters)",
      );
    }
    c.check(
      backends.includes(r.virtualService),
      `${field}.virtualService`,
      r.virtualService,
      `is an unknown service: must be one of the gateway's backends (${backends.join(", ") || "none"})`,
    );
    return { name, prefix: r.prefix, header: r.header, virtualService: r.virtualService, index: i };
  });
  return checked
    .sort((a, b) => b.prefix.length - a.prefix.length || a.index - b.index)
    .map(({ index: _, ...r }, priority) => ({ ...r, priority }));
}
