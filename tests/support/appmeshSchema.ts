/**
 * Checks rendered App Mesh custom resources (appmesh.k8s.aws) against tests/mesh/appmesh-v1beta2.schema.json,
 * the v1beta2 CRD schema of the kinds we render with every CRD-defined object closed. The Kubernetes schema
 * checks skip custom resources, so this is what catches a wrong enum, a missing required field, a value out of
 * range or a field the CRD does not have (the API server would prune or reject it).
 */
import * as path from "node:path";
import Ajv2020, { type ErrorObject } from "ajv/dist/2020";
import type { K8sObject } from "../../spire/k8s";

export const APPMESH_GROUP = "appmesh.k8s.aws";
export const appMeshSchemaPath = path.resolve(__dirname, "../mesh/appmesh-v1beta2.schema.json");

export const isAppMeshObject = (object: K8sObject): boolean =>
  typeof object.apiVersion === "string" && object.apiVersion.startsWith(`${APPMESH_GROUP}/`);

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validate = ajv.compile(require(appMeshSchemaPath));

const label = (object: K8sObject, index: number): string =>
  `${object.kind}/${object.metadata?.name ?? `#${index}`}`;

/** One ajv error as `<instancePath> <message>`, with the offending name or the allowed values spelled out. */
function describe(error: ErrorObject): string {
  const at = error.instancePath || "/";
  switch (error.keyword) {
    case "additionalProperties":
      // Name the unknown field's own path: "/spec/.../tls/mode", not just its parent.
      return `${error.instancePath}/${error.params.additionalProperty} is not a field of the v1beta2 schema (must NOT have additional properties)`;
    case "enum":
      return `${at} ${error.message} (${(error.params.allowedValues as unknown[]).join(", ")})`;
    case "false schema":
      return `${at} must be absent`;
    case "const":
      return `${at} ${error.message} (${JSON.stringify(error.params.allowedValue)})`;
    default:
      return `${at} ${error.message ?? "is invalid"}`;
  }
}

/** The problems of one App Mesh object as `<instancePath> <message>`; empty when it is valid. */
export function appMeshProblems(object: K8sObject): string[] {
  if (validate(object)) return [];
  // "must match then schema" only repeats that the kind's own errors exist; those are listed one by one. A wrong
  // apiVersion fails both the top-level and the kind's constant: list it once.
  return [...new Set((validate.errors ?? []).filter((e) => e.keyword !== "if").map(describe))];
}

/**
 * Throws one Error listing every problem as `<kind>/<name>: <instancePath> <message>`. Objects outside the
 * appmesh.k8s.aws group are ignored: the Kubernetes schema checks cover those.
 */
export function validateAppMeshObjects(objects: readonly K8sObject[]): void {
  const problems: string[] = [];
  for (const [index, object] of objects.entries()) {
    if (!isAppMeshObject(object)) continue;
    problems.push(...appMeshProblems(object).map((problem) => `${label(object, index)}: ${problem}`));
  }
  if (problems.length > 0) {
    throw new Error(`${problems.length} App Mesh schema problem(s):\n  ${problems.join("\n  ")}`);
  }
}
