/**
 * Checks rendered Kubernetes objects against the real Kubernetes schema, twice over:
 * - OpenAPI (kubernetes-models): types, required fields, enums. It ignores unknown fields.
 * - Strict decoding (tools/validate/cmd/k8s-strict): the Go types the API server decodes into with
 *   fieldValidation=Strict, so misspelled and duplicate fields are errors.
 * Custom resources have no schema in either; they are counted by kubernetesSchemaCoverage, never hidden.
 */
import { spawnSync } from "node:child_process";
import type { K8sObject } from "../../spire/k8s";
import { goTool } from "./goTools";

interface ModelClass {
  readonly apiVersion?: unknown;
  readonly kind?: unknown;
  new (data: unknown): { validate(): void };
}

interface AjvError {
  readonly instancePath: string;
  readonly message?: string;
  readonly params?: { readonly allowedValues?: readonly unknown[] };
}

interface StrictDecodeResult {
  readonly index: number;
  readonly errors: readonly string[];
  readonly skipped?: string;
}

type Lookup =
  | { readonly status: "built-in"; readonly model: ModelClass }
  | { readonly status: "custom-resource" }
  | { readonly status: "unknown"; readonly problem: string };

export interface KubernetesSchemaCoverage {
  /** `<kind>/<name>` of objects checked by both validators. */
  readonly checked: string[];
  /** `<kind>/<name>` of custom resources: no built-in schema exists, so neither validator can check them. */
  readonly customResources: string[];
}

const label = (object: K8sObject, index: number): string =>
  `${object.kind}/${object.metadata?.name ?? `#${index}`}`;

/** Finds the kubernetes-models class for apiVersion/kind; its module path is the apiVersion (core is "v1"). */
function lookupModel(apiVersion: string, kind: string): Lookup {
  // The type says string, but rendered objects come from code under test.
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return { status: "unknown", problem: "apiVersion and kind must be strings" };
  }
  let versionModule: Record<string, unknown>;
  try {
    versionModule = require(`kubernetes-models/${apiVersion}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ERR_PACKAGE_PATH_NOT_EXPORTED" && code !== "MODULE_NOT_FOUND") throw error;
    // Custom resource groups must contain a dot, so an undotted unknown group is a typo, not a CRD.
    const group = apiVersion.split("/").slice(0, -1).join("/");
    return group.includes(".")
      ? { status: "custom-resource" }
      : { status: "unknown", problem: `apiVersion ${apiVersion} is not a Kubernetes API` };
  }
  // The version index also exports nested types (Container, ...); only top-level kinds carry a static kind.
  const model = versionModule[kind] as ModelClass | undefined;
  if (typeof model !== "function" || model.kind !== kind || model.apiVersion !== apiVersion) {
    return { status: "unknown", problem: `no kind ${kind} in ${apiVersion}` };
  }
  return { status: "built-in", model };
}

function openApiProblems(model: ModelClass, object: K8sObject): string[] {
  try {
    new model(object).validate();
    return [];
  } catch (error) {
    const ajvErrors = (error as { errors?: readonly AjvError[] }).errors;
    if (!Array.isArray(ajvErrors)) return [`openapi: ${(error as Error).message}`];
    return ajvErrors.map((e) => {
      const allowed = e.params?.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : "";
      return `openapi: ${e.instancePath || "/"} ${e.message ?? "is invalid"}${allowed}`;
    });
  }
}

function runStrictDecoder(objects: readonly K8sObject[]): StrictDecodeResult[] {
  const run = spawnSync(goTool("k8s-strict"), [], {
    input: JSON.stringify(objects),
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error) throw new Error(`k8s-strict could not run: ${run.error.message} ${run.stderr ?? ""}`.trim());
  if (run.status !== 0 && run.status !== 1) {
    throw new Error(`k8s-strict failed (status ${run.status}, signal ${run.signal}): ${run.stderr.trim()}`);
  }
  const report = JSON.parse(run.stdout) as StrictDecodeResult[];
  if (report.length !== objects.length) {
    throw new Error(`k8s-strict reported ${report.length} objects for ${objects.length} given`);
  }
  return report;
}

/** Which objects the schema checks can cover, and which are custom resources without a built-in schema. */
export function kubernetesSchemaCoverage(objects: readonly K8sObject[]): KubernetesSchemaCoverage {
  const checked: string[] = [];
  const customResources: string[] = [];
  objects.forEach((object, index) => {
    const lookup = lookupModel(object.apiVersion, object.kind);
    (lookup.status === "custom-resource" ? customResources : checked).push(label(object, index));
  });
  return { checked, customResources };
}

/** Throws one Error listing every problem as `<kind>/<name>: <problem>`; custom resources are not errors. */
export function validateKubernetesObjects(objects: readonly K8sObject[]): void {
  const strictReport = runStrictDecoder(objects);
  const problems: string[] = [];
  objects.forEach((object, index) => {
    const objectProblems: string[] = [];
    const lookup = lookupModel(object.apiVersion, object.kind);
    if (lookup.status === "unknown") objectProblems.push(lookup.problem);
    if (lookup.status === "built-in") objectProblems.push(...openApiProblems(lookup.model, object));

    const strict = strictReport[index];
    objectProblems.push(...strict.errors.map((e) => `strict decoding: ${e}`));
    // A built-in kind the Go scheme lacks would otherwise get no unknown-field check at all.
    if (strict.skipped && lookup.status === "built-in") {
      objectProblems.push(
        `strict decoding: ${object.apiVersion} is not registered in tools/validate/cmd/k8s-strict (${strict.skipped}); add it to the scheme`,
      );
    }
    problems.push(...objectProblems.map((problem) => `${label(object, index)}: ${problem}`));
  });
  if (problems.length > 0) {
    throw new Error(`${problems.length} Kubernetes schema problem(s):\n  ${problems.join("\n  ")}`);
  }
}
