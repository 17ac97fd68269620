/**
 * Rule 2: every SPIFFE ID the mesh relies on (a node's own identity, its allowed callers and allowed servers)
 * has a SPIRE entry in the same stack, or is declared external. It needs the whole graph, so it is a stack
 * policy and reads the components' registered outputs.
 */
import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { arr, type Finding, isUnknown, obj, plain, reportAll, str, stringListSchema } from "../support";

export const IDENTITIES_REGISTERED = "identities-registered";

export interface IdentitiesRegisteredConfig {
  /**
   * SPIFFE IDs used here but registered elsewhere (another stack, another team's SPIRE, a federated trust
   * domain) or left unregistered on purpose. An entry ending in `/*` covers every ID under that prefix.
   */
  readonly external?: readonly string[];
}

export const IDENTITIES_REGISTERED_DEFAULTS = { external: [] as string[] };

/** Components that register identities, and the output that holds them. */
const REGISTRARS: Readonly<Record<string, { readonly output: string; readonly many: boolean }>> = {
  // The declared IDs: known at preview, where a new entry's registered spiffeId is still unknown.
  "spire-mesh:index:SpireEntry": { output: "declaredSpiffeId", many: false },
  "spire-mesh:index:SpireEntrySet": { output: "declaredSpiffeIds", many: true },
};

/** Components whose outputs name identities the mesh uses. Unknown component types are ignored. */
const USERS = new Set([
  "spire-mesh:index:MtlsVirtualNode",
  "spire-mesh:index:MtlsVirtualGateway",
  "spire-mesh:index:MeshWorkload",
]);

const ROLES = [
  { output: "identity", label: "identity", many: false },
  { output: "allowedCallers", label: "allowed caller", many: true },
  { output: "allowedServers", label: "allowed server", many: true },
] as const;

const description =
  "Every identity in the mesh is registered: each node identity, allowed caller and allowed server of an " +
  "MtlsVirtualNode, MtlsVirtualGateway or MeshWorkload has a SpireEntry (or SpireEntrySet member) in the same " +
  "stack, or is listed in external. An unregistered workload gets no SVID, so mTLS to and from it fails.";

const shortType = (type: string) => type.split(":").pop() ?? type;

function isExternal(id: string, external: readonly string[]): boolean {
  return external.some((e) => (e.endsWith("/*") ? id.startsWith(e.slice(0, -1)) : e === id));
}

export function identityFindings(
  resources: readonly PolicyResource[],
  config: IdentitiesRegisteredConfig,
): Finding[] {
  const external = config.external ?? [];
  const registered = new Set<string>();
  let registrationUnknown = false;
  for (const r of resources) {
    const registrar = REGISTRARS[r.type];
    if (!registrar) continue;
    const value = plain(r.props)?.[registrar.output];
    const values = registrar.many ? (Array.isArray(value) ? value : [value]) : [value];
    for (const v of values) {
      if (typeof v === "string" && !isUnknown(v)) registered.add(v);
      else registrationUnknown = true;
    }
  }
  // An entry whose ID is unknown during preview might be the one a node needs: no verdict until it is known
  // (the engine runs stack policies again at the end of the update).
  if (registrationUnknown) return [];

  // A MeshWorkload contains its MtlsVirtualNode, which is checked itself: report the node, not both.
  const parentsOfNodes = new Set(
    resources
      .filter((r) => r.type === "spire-mesh:index:MtlsVirtualNode" && r.parent)
      .map((r) => r.parent?.urn),
  );
  const findings: Finding[] = [];
  for (const r of resources) {
    if (!USERS.has(r.type)) continue;
    if (r.type === "spire-mesh:index:MeshWorkload" && parentsOfNodes.has(r.urn)) continue;
    const props = obj(plain(r.props)) ?? {};
    const node = str(props.nodeName) ?? str(props.gatewayName) ?? str(props.name) ?? r.name;
    for (const role of ROLES) {
      const ids = role.many ? arr(props[role.output]) : [props[role.output]];
      for (const id of ids) {
        if (typeof id !== "string" || isUnknown(id)) continue;
        if (registered.has(id) || isExternal(id, external)) continue;
        findings.push({
          message:
            `${shortType(r.type)} ${node}: ${role.label} ${id} has no SPIRE entry in this stack: register it ` +
            "with a SpireEntry or SpireEntrySet, or list it in external",
          urn: r.urn,
        });
      }
    }
  }
  return findings;
}

export const identitiesRegisteredPolicy: StackValidationPolicy = {
  name: IDENTITIES_REGISTERED,
  description,
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      external: stringListSchema(
        "SPIFFE IDs registered outside this stack, or unregistered on purpose; a trailing /* matches a prefix.",
        IDENTITIES_REGISTERED_DEFAULTS.external,
      ),
    },
  },
  validateStack: (args: StackValidationArgs, report) => {
    const config = { ...IDENTITIES_REGISTERED_DEFAULTS, ...args.getConfig<IdentitiesRegisteredConfig>() };
    reportAll(report, description, identityFindings(args.resources, config));
  },
};
