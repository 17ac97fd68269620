/**
 * Rule 7: least-privilege RBAC. Roles and ClusterRoles the stack creates name their verbs, resources and API
 * groups: a `*` in any of them grants whatever the API server adds later, too.
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
  "stack creates; name each one.";

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
