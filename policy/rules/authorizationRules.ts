/**
 * Rule 11: in production stacks, every STRICT listener of an HTTP-family workload says who may do what: its
 * Envoy HTTP connection manager runs an RBAC filter with enforced rules (MeshWorkload `authorization`), not
 * only the SAN list that decides who may connect. Shadow rules alone are reported: they count, never refuse.
 * Gateways (whose routes lead into the mesh over mTLS) and tcp listeners are not judged; an App Mesh
 * VirtualNode's STRICT HTTP listener is, as App Mesh has no per-route authorization. Advisory by default.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  arr,
  type Finding,
  globMatch,
  type Json,
  obj,
  plain,
  reportAll,
  stackOfUrn,
  str,
  stringListSchema,
  subject,
} from "../support";
import { EDGE_NODE, envoyListenerProblem } from "./mtlsStrict";

export const AUTHORIZATION_RULES = "authorization-rules";

export interface AuthorizationRulesConfig {
  /** Globs of stack names the rule applies to. */
  readonly stacks?: readonly string[];
  /** Nodes whose STRICT listeners may go without rules, as `namespace/name` (the object's own namespace). */
  readonly exempt?: readonly string[];
}

export const AUTHORIZATION_RULES_DEFAULTS = { stacks: ["prod*"], exempt: [] as string[] };

const description =
  "In stacks matching `stacks` (default prod*), every STRICT listener of an HTTP-family workload authorizes " +
  "requests by SPIFFE ID: an Envoy RBAC filter with enforced rules before the router (MeshWorkload " +
  "authorization), not shadow rules alone; an App Mesh VirtualNode cannot, as App Mesh has no per-route " +
  "authorization. Advisory unless the pack config makes it mandatory.";

const RULE =
  "STRICT listeners of HTTP workloads must authorize requests by SPIFFE ID (MeshWorkload authorization)";
const HCM = ".HttpConnectionManager";
const HTTP_RBAC = ".filters.http.rbac.v3.RBAC";
const APP_MESH_NODE = /^kubernetes:appmesh\.k8s\.aws\/[^:]+:VirtualNode$/;
const HTTP_FAMILY = ["http", "http2", "grpc"];

const typeOf = (x: Json) => str(obj(obj(x)?.typed_config)?.["@type"]) ?? "";
const hasPolicies = (rules: Json) => Object.keys(obj(obj(rules)?.policies) ?? {}).length > 0;

/** What an HTTP connection manager lacks of enforced authorization, or undefined when it has it. */
function missingAuthorization(hcm: Record<string, Json>): string | undefined {
  const rbac = arr(hcm.http_filters)
    .filter((f) => typeOf(f).endsWith(HTTP_RBAC))
    .map((f) => obj(obj(f)?.typed_config) ?? {});
  if (rbac.some((r) => hasPolicies(r.rules))) return undefined;
  return rbac.some((r) => hasPolicies(r.shadow_rules))
    ? "shadow RBAC rules only (counted, never refused)"
    : "no RBAC rules (any allowed caller may send any request)";
}

/** A gateway's connection manager: every route goes to a cluster with a TLS transport socket (into the mesh). */
function routesIntoMesh(hcm: Record<string, Json>, bootstrap: Json): boolean {
  const mtls = new Set(
    arr(obj(obj(bootstrap)?.static_resources)?.clusters)
      .filter((c) => obj(obj(c)?.transport_socket))
      .map((c) => str(obj(c)?.name)),
  );
  const routes = arr(obj(hcm.route_config)?.virtual_hosts).flatMap((v) => arr(obj(v)?.routes));
  return routes.length > 0 && routes.every((r) => mtls.has(str(obj(obj(r)?.route)?.cluster)));
}

const exempt = (list: readonly string[], namespace: string | undefined, name: string | undefined) =>
  namespace !== undefined && name !== undefined && list.includes(`${namespace}/${name}`);

function envoyFindings(props: Json, name: string, exemptNodes: readonly string[]): Finding[] {
  const what = subject("kubernetes:core/v1:ConfigMap", props, name);
  const namespace = str(props?.metadata?.namespace);
  const findings: Finding[] = [];
  for (const [key, value] of Object.entries(obj(props?.data) ?? {})) {
    const text = str(value);
    if (!text?.includes("static_resources")) continue;
    let bootstrap: Json;
    try {
      bootstrap = JSON.parse(text);
    } catch {
      continue;
    }
    const node = str(bootstrap?.node?.id)?.split(".")[0];
    if (exempt(exemptNodes, namespace, node)) continue;
    for (const [i, listener] of arr(obj(bootstrap?.static_resources)?.listeners).entries()) {
      // Only STRICT listeners know their callers' SPIFFE IDs; mtls-strict-listeners judges the others.
      if (!arr(obj(listener)?.filter_chains).length || envoyListenerProblem(listener)) continue;
      for (const [c, chain] of arr(obj(listener)?.filter_chains).entries()) {
        for (const filter of arr(obj(chain)?.filters).filter((f) => typeOf(f).endsWith(HCM))) {
          const hcm = obj(obj(filter)?.typed_config) ?? {};
          const missing = !routesIntoMesh(hcm, bootstrap) && missingAuthorization(hcm);
          if (missing) {
            const listenerName = str(obj(listener)?.name) ?? `listeners[${i}]`;
            findings.push({
              message: `${what}: Envoy node ${node ?? "(no node id)"} (data.${key}), listener ${listenerName}, filter chain ${c} = ${missing}: ${RULE}`,
            });
          }
        }
      }
    }
  }
  return findings;
}

function appMeshFindings(type: string, props: Json, name: string, exemptNodes: readonly string[]): Finding[] {
  const what = subject(type, props, name);
  if (exempt(exemptNodes, str(props?.metadata?.namespace), str(props?.metadata?.name))) return [];
  return arr(obj(props?.spec)?.listeners).flatMap((listener, i) => {
    const protocol = str(obj(obj(listener)?.portMapping)?.protocol);
    const strict = str(obj(obj(listener)?.tls)?.mode) === "STRICT";
    if (!strict || !protocol || !HTTP_FAMILY.includes(protocol)) return [];
    return [
      {
        message:
          `${what}: spec.listeners[${i}] = STRICT ${protocol} on App Mesh, which has no per-route authorization: ` +
          `${RULE}; use the envoy data plane`,
      },
    ];
  });
}

export const authorizationRulesPolicy: ResourceValidationPolicy = {
  name: AUTHORIZATION_RULES,
  description,
  enforcementLevel: "advisory",
  configSchema: {
    properties: {
      stacks: stringListSchema(
        "Globs of stack names the rule applies to.",
        AUTHORIZATION_RULES_DEFAULTS.stacks,
      ),
      exempt: stringListSchema(
        "Nodes whose STRICT listeners may go without authorization rules, as namespace/name.",
        AUTHORIZATION_RULES_DEFAULTS.exempt,
        EDGE_NODE.source,
      ),
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    const isAppMesh = APP_MESH_NODE.test(args.type);
    if (args.type !== "kubernetes:core/v1:ConfigMap" && !isAppMesh) return;
    const config = { ...AUTHORIZATION_RULES_DEFAULTS, ...args.getConfig<AuthorizationRulesConfig>() };
    const stack = stackOfUrn(args.urn);
    if (stack === undefined || !config.stacks.some((p) => globMatch(p, stack))) return;
    const props = plain(args.props);
    reportAll(
      report,
      description,
      isAppMesh
        ? appMeshFindings(args.type, props, args.name, config.exempt)
        : envoyFindings(props, args.name, config.exempt),
    );
  },
};
