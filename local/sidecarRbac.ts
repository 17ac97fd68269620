/**
 * Envoy's RBAC filters as the local sidecar runs them: the HTTP filter before the router and the network filter
 * before tcp_proxy. Modelled subset: ALLOW policies whose principals are `authenticated.principal_name.exact`
 * (matched against the peer certificate's URI SANs), whose permissions are `any`, `url_path` exact or prefix
 * (the path without its query), an exact `header` (`:method` for methods), and `and_rules`/`or_rules` of those;
 * enforced `rules` and `shadow_rules` with their stat prefix. Anything else is refused with its path. Pure.
 */

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

/** A permission, as the sidecar evaluates it. */
export type RbacPermission =
  | { readonly any: true }
  | { readonly and: readonly RbacPermission[] }
  | { readonly or: readonly RbacPermission[] }
  | { readonly path: { readonly exact?: string; readonly prefix?: string } }
  | { readonly header: { readonly name: string; readonly exact: string } };

export interface RbacPolicy {
  readonly name: string;
  /** Exact SPIFFE IDs: a peer whose URI SAN is one of them matches. */
  readonly principals: readonly string[];
  /** Any of them grants the request. */
  readonly permissions: readonly RbacPermission[];
}

export interface RbacPlan {
  /** Enforced: a request no policy grants is denied. None: nothing enforced. */
  readonly rules?: readonly RbacPolicy[];
  /** Counted only. */
  readonly shadowRules?: readonly RbacPolicy[];
  /** Envoy's counter root: `http.<hcm stat prefix>.rbac.` or `<network stat_prefix>rbac.`. */
  readonly statRoot: string;
  readonly shadowStatPrefix: string;
}

/** What a permission sees of a request: HTTP has a path and headers; a TCP connection has neither. */
export interface RbacRequest {
  /** The peer certificate's URI SANs (none on plaintext). */
  readonly peerSans: readonly string[];
  /** The request target (`:path`); the query string is not part of a url_path match. */
  readonly path?: string;
  /** A header's value, pseudo-headers included (`:method`). */
  readonly header?: (name: string) => string | string[] | undefined;
}

export const HTTP_RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
export const NETWORK_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";

function refuse(path: string, value: unknown, rule: string): never {
  throw new Error(
    `the local sidecar cannot run this bootstrap faithfully:\n  ${path}: ${JSON.stringify(value)} ${rule}`,
  );
}

const nonEmpty = (v: unknown, path: string): string =>
  typeof v === "string" && v.length > 0 ? v : refuse(path, v, "must be a non-empty string");

function permission(p: Json, path: string): RbacPermission {
  const keys = Object.keys(p ?? {});
  if (keys.length !== 1)
    refuse(path, p, "must set exactly one rule (any, url_path, header, and_rules, or_rules)");
  const [key] = keys;
  const list = (at: string) =>
    (Array.isArray(p[key]?.rules) && p[key].rules.length > 0
      ? p[key].rules
      : refuse(at, p[key], "needs rules")
    ).map((r: Json, i: number) => permission(r, `${at}.rules[${i}]`));
  switch (key) {
    case "any":
      return p.any === true ? { any: true } : refuse(`${path}.any`, p.any, "must be true");
    case "and_rules":
      return { and: list(`${path}.and_rules`) };
    case "or_rules":
      return { or: list(`${path}.or_rules`) };
    case "url_path": {
      const m = p.url_path?.path ?? {};
      const which = Object.keys(m);
      if (which.length !== 1 || !["exact", "prefix"].includes(which[0]))
        refuse(
          `${path}.url_path.path`,
          m,
          "must be exactly one of exact and prefix (what the sidecar models)",
        );
      return { path: { [which[0]]: nonEmpty(m[which[0]], `${path}.url_path.path.${which[0]}`) } };
    }
    case "header":
      return {
        header: {
          name: nonEmpty(p.header?.name, `${path}.header.name`).toLowerCase(),
          exact:
            typeof p.header?.string_match?.exact === "string"
              ? p.header.string_match.exact
              : refuse(
                  `${path}.header`,
                  p.header,
                  "needs string_match.exact (the only header match modelled)",
                ),
        },
      };
    default:
      return refuse(`${path}.${key}`, p[key], "is not a permission the local sidecar models");
  }
}

function policies(rules: Json, path: string): RbacPolicy[] {
  if ((rules.action ?? "ALLOW") !== "ALLOW")
    refuse(`${path}.action`, rules.action, "must be ALLOW (what the sidecar models)");
  return Object.entries(rules.policies ?? {}).map(([name, policy]: [string, Json]) => {
    const at = `${path}.policies.${name}`;
    const principals = (policy.principals ?? []).map((p: Json, i: number) => {
      const exact = p?.authenticated?.principal_name?.exact;
      return Object.keys(p ?? {}).length === 1 && Object.keys(p.authenticated ?? {}).length === 1
        ? nonEmpty(exact, `${at}.principals[${i}].authenticated.principal_name.exact`)
        : refuse(
            `${at}.principals[${i}]`,
            p,
            "must be authenticated.principal_name.exact (what the sidecar models)",
          );
    });
    if (principals.length === 0)
      refuse(`${at}.principals`, policy.principals, "needs at least one principal");
    const permissions = (policy.permissions ?? []).map((p: Json, i: number) =>
      permission(p, `${at}.permissions[${i}]`),
    );
    if (permissions.length === 0)
      refuse(`${at}.permissions`, policy.permissions, "needs at least one permission");
    return { name, principals, permissions };
  });
}

/** Reads an RBAC filter's typed_config; `statRoot` is where Envoy roots its counters for this filter. */
export function rbacPlan(config: Json, path: string, statRoot: string): RbacPlan {
  if (config.rules === undefined && config.shadow_rules === undefined)
    refuse(
      path,
      Object.keys(config),
      "needs rules or shadow_rules (an RBAC filter without either does nothing)",
    );
  return {
    ...(config.rules !== undefined ? { rules: policies(config.rules, `${path}.rules`) } : {}),
    ...(config.shadow_rules !== undefined
      ? { shadowRules: policies(config.shadow_rules, `${path}.shadow_rules`) }
      : {}),
    statRoot,
    shadowStatPrefix: config.shadow_rules_stat_prefix ?? "",
  };
}

/** The path without its query string and fragment, as Envoy's url_path match sees it. */
const pathOnly = (target: string) => target.split(/[?#]/, 1)[0];

function grants(p: RbacPermission, request: RbacRequest): boolean {
  if ("any" in p) return true;
  if ("and" in p) return p.and.every((x) => grants(x, request));
  if ("or" in p) return p.or.some((x) => grants(x, request));
  if ("path" in p) {
    // A TCP connection has no path: a url_path permission never matches it (Envoy's does not either).
    if (request.path === undefined) return false;
    const path = pathOnly(request.path);
    return p.path.exact !== undefined ? path === p.path.exact : path.startsWith(p.path.prefix as string);
  }
  const value = request.header?.(p.header.name);
  return value === p.header.exact;
}

/** Whether some policy names the peer and grants the request. */
export function allows(policiesToTry: readonly RbacPolicy[], request: RbacRequest): boolean {
  return policiesToTry.some(
    (policy) =>
      policy.principals.some((id) => request.peerSans.includes(id)) &&
      policy.permissions.some((p) => grants(p, request)),
  );
}

/**
 * Runs the filter on one request or connection as Envoy does: shadow rules counted (`<shadow prefix>shadow_allowed`
 * or `..._denied`), enforced rules counted (`allowed`/`denied`) and decisive. True: let it through.
 */
export function authorize(plan: RbacPlan, request: RbacRequest, count: (stat: string) => void): boolean {
  if (plan.shadowRules) {
    const verdict = allows(plan.shadowRules, request) ? "shadow_allowed" : "shadow_denied";
    count(`${plan.statRoot}${plan.shadowStatPrefix}${verdict}`);
  }
  if (!plan.rules) return true;
  const allowed = allows(plan.rules, request);
  count(`${plan.statRoot}${allowed ? "allowed" : "denied"}`);
  return allowed;
}
