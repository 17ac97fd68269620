/**
 * Who may do what on a STRICT listener, by the caller's SPIFFE ID: rules checked at construction and rendered
 * as Envoy's RBAC filters (HTTP `envoy.filters.http.rbac` before the router; `envoy.filters.network.rbac` before
 * tcp_proxy). A caller is matched on its certificate's URI SAN (`authenticated.principal_name`, exact), so a
 * rule can only name callers the listener's SAN check already admits. With rules, what no rule allows is
 * denied (an ALLOW policy); shadow mode evaluates and counts the same rules but lets everything through. Pure.
 */
import type { Checker } from "../core/validation";
import { checkCallers } from "./callers";

export enum AuthorizationMode {
  /** Requests no rule allows are refused: 403 on HTTP, the connection closed on TCP. */
  Enforce = "enforce",
  /** Rules are evaluated and counted (`shadow_allowed`/`shadow_denied`), nothing is refused: for rolling out. */
  Shadow = "shadow",
}

/** A path match: exactly this path, or every path that starts with this prefix (query strings ignored). */
export type PathMatch = { readonly exact: string } | { readonly prefix: string };

/** An exact header match, e.g. `{ name: "x-tenant", exact: "blue" }`. */
export interface HeaderMatch {
  readonly name: string;
  readonly exact: string;
}

/**
 * One rule: these callers may do this. On an HTTP-family listener (http, http2, grpc), unset matchers allow
 * anything; on tcp a rule only admits its callers to connect, and takes no matcher.
 */
export interface AuthorizationRuleArgs<C = string | { readonly identity: string }> {
  /** Callers of the listener this rule applies to (SPIFFE IDs, or what the component resolves to them). */
  readonly callers: readonly C[];
  /** HTTP only: the request path. */
  readonly path?: PathMatch;
  /** HTTP only: any of these methods, e.g. ["GET", "HEAD"]. */
  readonly methods?: readonly string[];
  /** HTTP only: one exact header match. */
  readonly header?: HeaderMatch;
}

export interface AuthorizationArgs<C = string | { readonly identity: string }> {
  /** Default enforce. */
  readonly mode?: AuthorizationMode | "enforce" | "shadow";
  /** What is allowed; everything else is denied (or, in shadow mode, counted as denied). */
  readonly rules: readonly AuthorizationRuleArgs<C>[];
}

export interface AuthorizationRule {
  readonly callers: readonly string[];
  readonly path?: PathMatch;
  readonly methods?: readonly string[];
  readonly header?: HeaderMatch;
}

export interface Authorization {
  readonly mode: AuthorizationMode;
  readonly rules: readonly AuthorizationRule[];
}

export const AUTHZ_MODE_RULE = `must be one of ${Object.values(AuthorizationMode).join(", ")}`;
export const AUTHZ_NO_RULES_RULE =
  "needs at least one rule: with none every request is denied (omit authorization to admit every caller)";
export const AUTHZ_STRICT_RULE =
  "needs tlsMode STRICT: only a STRICT listener knows every caller's SPIFFE ID to authorize it by";
export const AUTHZ_EMPTY_RULE = "is empty: a rule names at least one caller";
export const AUTHZ_NOT_CALLER_RULE =
  "is not a caller of this listener: a rule may only name its callers (its SAN check refuses anyone else)";
export const AUTHZ_PATH_RULE =
  "must be exactly one of { exact } and { prefix }, an absolute path (starts with /)";
export const AUTHZ_METHODS_RULE = "must be a non-empty list of distinct HTTP methods";
export const AUTHZ_HEADER_RULE =
  "must be { name, exact }: a lowercase header name (not a pseudo-header; use methods or path) and a non-empty value";
export const AUTHZ_TCP_RULE =
  "does not apply to a tcp listener: a tcp rule only admits its callers to connect";

/** The methods a rule may name: RFC 9110's and PATCH. */
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/**
 * Stats of shadow rules get this prefix (`http.<hcm>.rbac.authz_shadow_denied`), so a rollout's would-be denials
 * read apart from any other RBAC filter's.
 */
export const AUTHZ_SHADOW_STAT_PREFIX = "authz_";

export interface ListenerFacts {
  readonly protocol: string;
  readonly tlsMode?: string;
  /** The listener's exact SAN list. */
  readonly callers: readonly string[];
  readonly trustDomain: string | undefined;
  readonly federated: readonly string[];
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

const identityOf = (x: unknown) =>
  typeof x === "object" && x !== null && "identity" in x ? (x as { identity: unknown }).identity : x;

/** Checks `authorization` against its listener; every problem goes to `c`. Undefined when not given. */
export function checkAuthorization(
  c: Checker,
  args: AuthorizationArgs | undefined,
  listener: ListenerFacts,
): Authorization | undefined {
  if (args === undefined) return undefined;
  const mode = (args.mode ?? AuthorizationMode.Enforce) as AuthorizationMode;
  c.check(Object.values(AuthorizationMode).includes(mode), "authorization.mode", args.mode, AUTHZ_MODE_RULE);
  c.check(listener.tlsMode === "STRICT", "authorization", listener.tlsMode, AUTHZ_STRICT_RULE);
  const ruleArgs = Array.isArray(args.rules) ? args.rules : [];
  c.check(ruleArgs.length > 0, "authorization.rules", args.rules, AUTHZ_NO_RULES_RULE);
  const tcp = listener.protocol === "tcp";
  const rules = ruleArgs.map((r, i): AuthorizationRule => {
    const at = `authorization.rules[${i}]`;
    const given = r?.callers ?? [];
    c.check(given.length > 0, `${at}.callers`, r?.callers, AUTHZ_EMPTY_RULE);
    const callers = checkCallers(c, given.map(identityOf), {
      at: (j) => `${at}.callers[${j}]`,
      trustDomain: listener.trustDomain,
      federated: listener.federated,
    }).ids;
    for (const [j, id] of callers.entries()) {
      if (typeof id === "string" && listener.trustDomain !== undefined)
        c.check(listener.callers.includes(id), `${at}.callers[${j}]`, id, AUTHZ_NOT_CALLER_RULE);
    }
    for (const key of ["path", "methods", "header"] as const) {
      if (tcp) c.check(r?.[key] === undefined, `${at}.${key}`, r?.[key], AUTHZ_TCP_RULE);
    }
    if (r?.path !== undefined) {
      const p = r.path as Record<string, unknown>;
      const keys = Object.keys(p);
      const value = p.exact ?? p.prefix;
      c.check(
        keys.length === 1 &&
          (keys[0] === "exact" || keys[0] === "prefix") &&
          /^\/[^?#\s]*$/.test(String(value)),
        `${at}.path`,
        r.path,
        AUTHZ_PATH_RULE,
      );
    }
    if (r?.methods !== undefined) {
      const methods = r.methods;
      c.check(
        Array.isArray(methods) && methods.length > 0 && new Set(methods).size === methods.length,
        `${at}.methods`,
        methods,
        AUTHZ_METHODS_RULE,
      );
      for (const [j, m] of (Array.isArray(methods) ? methods : []).entries()) {
        c.check(
          HTTP_METHODS.includes(m),
          `${at}.methods[${j}]`,
          m,
          `is not an HTTP method (${HTTP_METHODS.join(", ")})`,
        );
      }
    }
    if (r?.header !== undefined) {
      const h = r.header;
      c.check(
        typeof h.name === "string" &&
          HEADER_NAME.test(h.name) &&
          typeof h.exact === "string" &&
          h.exact.length > 0 &&
          Object.keys(h).length === 2,
        `${at}.header`,
        h,
        AUTHZ_HEADER_RULE,
      );
    }
    return {
      callers,
      ...(r?.path !== undefined ? { path: r.path } : {}),
      ...(r?.methods !== undefined ? { methods: [...r.methods] } : {}),
      ...(r?.header !== undefined ? { header: r.header } : {}),
    };
  });
  return { mode, rules };
}

/** Replaces each rule's callers by what `resolve` makes of them (a component's workloads: their SPIFFE IDs). */
export function resolveRuleCallers<C>(
  args: AuthorizationArgs<C>,
  resolve: (caller: C) => string | { readonly identity: string },
): AuthorizationArgs {
  return {
    ...args,
    rules: (args.rules ?? []).map((r) => ({ ...r, callers: (r?.callers ?? []).map(resolve) })),
  };
}

const t = {
  httpRbac: "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
  networkRbac: "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC",
};

const exactHeader = (name: string, exact: string) => ({ header: { name, string_match: { exact } } });

/** What a rule allows, as one RBAC permission: all of its matchers (none: anything). */
function permission(rule: AuthorizationRule): object {
  const all: object[] = [];
  if (rule.path) all.push({ url_path: { path: { ...rule.path } } });
  if (rule.methods) {
    const methods = rule.methods.map((m) => exactHeader(":method", m));
    all.push(methods.length === 1 ? methods[0] : { or_rules: { rules: methods } });
  }
  if (rule.header) all.push(exactHeader(rule.header.name, rule.header.exact));
  if (all.length === 0) return { any: true };
  return all.length === 1 ? all[0] : { and_rules: { rules: all } };
}

/** An ALLOW policy per rule, named by its index: its callers' exact SPIFFE IDs and what they may do. */
function rbacRules(a: Authorization) {
  return {
    action: "ALLOW",
    policies: Object.fromEntries(
      a.rules.map((rule, i) => [
        `rule-${i}`,
        {
          permissions: [permission(rule)],
          principals: rule.callers.map((id) => ({ authenticated: { principal_name: { exact: id } } })),
        },
      ]),
    ),
  };
}

/** Enforced rules, or shadow rules with their stat prefix. */
const modeFields = (a: Authorization) =>
  a.mode === AuthorizationMode.Shadow
    ? { shadow_rules: rbacRules(a), shadow_rules_stat_prefix: AUTHZ_SHADOW_STAT_PREFIX }
    : { rules: rbacRules(a) };

/** The HTTP RBAC filter, to run before the router: stats under `http.<hcm stat prefix>.rbac.`. */
export const rbacHttpFilter = (a: Authorization) => ({
  name: "envoy.filters.http.rbac",
  typed_config: { "@type": t.httpRbac, ...modeFields(a) },
});

/** The network RBAC filter, to run before tcp_proxy: stats under `<statPrefix>.rbac.`. */
export const rbacNetworkFilter = (a: Authorization, statPrefix: string) => ({
  name: "envoy.filters.network.rbac",
  typed_config: { "@type": t.networkRbac, stat_prefix: `${statPrefix}.`, ...modeFields(a) },
});
