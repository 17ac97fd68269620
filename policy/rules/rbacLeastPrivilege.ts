/**
 * Rule 7: least-privilege RBAC. Roles and ClusterRoles the stack creates name their verbs, resources and API
 * groups: a `*` in any of them grants whatever the API server adds later, too. And none grants a way into other
 * pods' processes: `nodes/proxy` (the kubelet authorizes websocket exec, attach and port-forward as `get` on
 * it), `pods/exec`, `pods/attach` or `pods/portforward`.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  arr,
  type Finding,
  type Json,
  kindOfType,
  obj,
  plain,
  reportAll,
  str,
  stringListSchema,
  subject,
} from "../support";

export const RBAC_LEAST_PRIVILEGE = "rbac-least-privilege";

export interface RbacConfig {
  /** Roles allowed wildcards anyway: `Kind/name` or `Kind/namespace/name`. */
  readonly exemptRoles?: readonly string[];
}

export const RBAC_DEFAULTS = { exemptRoles: [] as string[] };

const ROLE_TYPES = new Set([
  "kubernetes:rbac.authorization.k8s.io/v1:Role",
  "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
]);

const description =
  "Least-privilege RBAC: no wildcard (*) verbs, resources or API groups in the Roles and ClusterRoles the " +
  "stack creates; name each one. No grant that reaches into pods (nodes/proxy, pods/exec, pods/attach, " +
  "pods/portforward).";

/** Core-group resources whose every verb opens a shell or a socket into pods; why, for the message. */
const POD_ENTRY: Readonly<Record<string, string>> = {
  "nodes/proxy":
    "the kubelet authorizes exec, attach and port-forward into every pod of the node as get on it; grant " +
    "nodes/pods (fine-grained kubelet authorization, Kubernetes 1.33+) for the kubelet's pod list",
  "pods/exec": "it runs commands in the pods",
  "pods/attach": "it attaches to the pods' processes",
  "pods/portforward": "it opens the pods' ports",
};

/** A wildcard in a resource list: `*`, or one in a resource or subresource (`*\/scale`, `pods/*`). */
const isWildcard = (field: string, value: string) =>
  value === "*" || (field === "resources" && value.split("/").includes("*"));

export function rbacFindings(type: string, props: Json, pulumiName: string, config: RbacConfig): Finding[] {
  const name = str(props?.metadata?.name);
  const namespace = str(props?.metadata?.namespace);
  const kind = kindOfType(type);
  const exempt = config.exemptRoles ?? [];
  if (
    name &&
    (exempt.includes(`${kind}/${name}`) || (namespace && exempt.includes(`${kind}/${namespace}/${name}`)))
  ) {
    return [];
  }
  const what = subject(type, props, pulumiName);
  const findings: Finding[] = [];
  arr(props?.rules).forEach((rule, i) => {
    const groups = arr(obj(rule)?.apiGroups);
    if (groups.includes("") || groups.includes("*")) {
      for (const resource of arr(obj(rule)?.resources)) {
        const why =
          typeof resource === "string" && Object.hasOwn(POD_ENTRY, resource)
            ? POD_ENTRY[resource]
            : undefined;
        if (why) {
          findings.push({
            message: `${what}: rules[${i}].resources grants ${JSON.stringify(resource)}: ${why}. Exempt the role (exemptRoles) only where an older cluster needs it`,
          });
        }
      }
    }
    for (const field of ["verbs", "resources", "apiGroups"]) {
      const values = arr(obj(rule)?.[field]).filter((v): v is string => str(v) !== undefined);
      const wild = values.filter((v) => isWildcard(field, v));
      if (wild.length > 0) {
        findings.push({
          message: `${what}: rules[${i}].${field} = ${JSON.stringify(values)}: wildcard ${JSON.stringify(wild[0])} grants more than the stack needs; list each ${field === "apiGroups" ? "API group" : field.slice(0, -1)} explicitly`,
        });
      }
    }
  });
  return findings;
}

export const rbacLeastPrivilegePolicy: ResourceValidationPolicy = {
  name: RBAC_LEAST_PRIVILEGE,
  description,
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      exemptRoles: stringListSchema(
        "Roles allowed wildcards anyway, as Kind/name or Kind/namespace/name.",
        RBAC_DEFAULTS.exemptRoles,
      ),
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    if (!ROLE_TYPES.has(args.type)) return;
    const config = { ...RBAC_DEFAULTS, ...args.getConfig<RbacConfig>() };
    reportAll(report, description, rbacFindings(args.type, plain(args.props), args.name, config));
  },
};
