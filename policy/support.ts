/**
 * What every rule shares: reading props without tripping over unknowns, durations, stack names, workload pod
 * specs, subjects for messages, and reporting at a level that may depend on the stack.
 */
import type { PolicyConfigSchema, ReportViolation } from "@pulumi/policy";

// biome-ignore lint/suspicious/noExplicitAny: resource props are untyped JSON.
export type Json = any;

/** The JSON schema of one config property. */
export type PropertySchema = PolicyConfigSchema["properties"][string];

/**
 * The sentinels the engine sends for values that are unknown during preview (one per type; in practice the
 * engine sends the string one for all of them). Same strings as @pulumi/policy's proxy.js.
 */
const UNKNOWN_SENTINELS = new Set([
  "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
  "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
  "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
  "030794c1-ac77-496b-92df-f27374a8bd58",
  "e48ece36-62e2-4504-bad9-02848725956a",
  "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);

export const isUnknown = (value: unknown): boolean =>
  typeof value === "string" && UNKNOWN_SENTINELS.has(value);

/**
 * A plain copy of resource props. @pulumi/policy hands props in a proxy whose `get` throws on an unknown value,
 * and the server then turns the whole policy for that resource (or the whole stack) into one advisory
 * "can't run during preview" note: a single unknown would silence every other check. Property descriptors
 * bypass that trap (the proxy defines only `get`), so unknowns stay in the copy as sentinel strings that each
 * rule skips on purpose, and the rest of the resource is still checked.
 */
export function plain(value: unknown): Json {
  if (value === null || typeof value !== "object") return value;
  const own = (key: string) => Object.getOwnPropertyDescriptor(value, key)?.value;
  if (Array.isArray(value)) {
    const length = own("length") as number;
    return Array.from({ length }, (_, i) => plain(own(String(i))));
  }
  return Object.fromEntries(Object.keys(value).map((key) => [key, plain(own(key))]));
}

/** A known string, or undefined when the value is missing, unknown or not a string. */
export const str = (value: unknown): string | undefined =>
  typeof value === "string" && !isUnknown(value) ? value : undefined;

/** The elements of a known array (unknown elements included, for the caller to skip); [] otherwise. */
export const arr = (value: unknown): Json[] => (Array.isArray(value) ? value : []);

/** A plain object, or undefined when missing or unknown. */
export const obj = (value: unknown): Record<string, Json> | undefined =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? value : undefined;

/** The stack a URN belongs to: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function stackOfUrn(urn: string): string | undefined {
  return /^urn:pulumi:([^:]+)::/.exec(urn)?.[1];
}

/** Shell-style glob: `*` any run of characters, `?` one character, everything else literal. */
export function globMatch(pattern: string, text: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${source}$`).test(text);
}

const DURATION_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** A Go duration ("1h", "1h30m", "90s", "1.5h", what SPIRE's HCL takes) in seconds; undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (text === "0") return 0;
  if (!/^(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let seconds = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(\.\d*)?)(ns|us|µs|ms|s|m|h)/g)) {
    seconds += Number(amount) * DURATION_UNITS[unit];
  }
  return seconds;
}

/** Seconds as the shortest h/m/s string: 3600 -> "1h", 5400 -> "1h30m", 90 -> "1m30s". */
export function formatSeconds(total: number): string {
  if (total === 0) return "0s";
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = Math.round((total % 60) * 1000) / 1000;
  return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s ? `${s}s` : ""}`;
}

/** JSON schema of a duration config property, with its default. */
export const durationSchema = (description: string, defaultValue: string): PropertySchema => ({
  type: "string",
  pattern: "^([0-9]+(\\.[0-9]*)?(ns|us|ms|s|m|h))+$",
  default: defaultValue,
  description,
});

/** JSON schema of a list of strings; `pattern`, when given, is what each string must match. */
export const stringListSchema = (
  description: string,
  defaultValue: string[],
  pattern?: string,
): PropertySchema => ({
  type: "array",
  items: pattern ? { type: "string", pattern } : { type: "string" },
  default: defaultValue,
  description,
});

/** The Kubernetes kind of a pulumi-kubernetes type token: `kubernetes:apps/v1:DaemonSet` -> DaemonSet. */
export const kindOfType = (type: string): string => type.split(":").pop() ?? type;

/** "Kind namespace/name" of a Kubernetes object for messages; the Pulumi name when metadata.name is unknown. */
export function subject(type: string, props: Json, pulumiName: string): string {
  const name = str(props?.metadata?.name);
  const namespace = str(props?.metadata?.namespace);
  if (!name) return `${kindOfType(type)} (Pulumi resource ${pulumiName})`;
  return `${kindOfType(type)} ${namespace ? `${namespace}/` : ""}${name}`;
}

/** Workload types and where their pod spec lives. */
const POD_SPEC_PATHS: Readonly<Record<string, readonly string[]>> = {
  "kubernetes:core/v1:Pod": ["spec"],
  "kubernetes:core/v1:PodTemplate": ["template", "spec"],
  "kubernetes:core/v1:ReplicationController": ["spec", "template", "spec"],
  "kubernetes:apps/v1:Deployment": ["spec", "template", "spec"],
  "kubernetes:apps/v1:DaemonSet": ["spec", "template", "spec"],
  "kubernetes:apps/v1:StatefulSet": ["spec", "template", "spec"],
  "kubernetes:apps/v1:ReplicaSet": ["spec", "template", "spec"],
  "kubernetes:batch/v1:Job": ["spec", "template", "spec"],
  "kubernetes:batch/v1:CronJob": ["spec", "jobTemplate", "spec", "template", "spec"],
};

/**
 * Where custom resources that run pods (Argo Rollouts, Knative, operators' own kinds) keep their pod template,
 * by the same convention as Deployments and CronJobs: the first of these that holds an object is the pod spec.
 */
const CUSTOM_POD_SPEC_PATHS: readonly (readonly string[])[] = [
  ["spec", "template", "spec"],
  ["spec", "jobTemplate", "spec", "template", "spec"],
];

/** The type a pulumi-kubernetes Patch resource patches: `kubernetes:apps/v1:DaemonSetPatch` -> `...:DaemonSet`. */
export const patchedType = (type: string): string => type.replace(/Patch$/, "");

/** Built-in types that never carry a pod spec, so that the custom-resource paths are not tried on them. */
const isBuiltInType = (type: string): boolean =>
  /^kubernetes:(core|apps|batch|[a-z.]*k8s\.io)\/[^:]+:/.test(type) || !type.startsWith("kubernetes:");

/** Where a resource of this type may keep its pod spec: its own path, or the custom-resource conventions. */
function podSpecPaths(type: string): readonly (readonly string[])[] {
  const known = POD_SPEC_PATHS[patchedType(type)];
  if (known) return [known];
  return isBuiltInType(type) ? [] : CUSTOM_POD_SPEC_PATHS;
}

/** Whether resources of this type may carry a pod spec: workloads, their Patch types and custom resources. */
export const isWorkloadType = (type: string): boolean => podSpecPaths(type).length > 0;

export interface PodSpec {
  /** "spec.template.spec" etc., for messages. */
  readonly path: string;
  readonly spec: Record<string, Json>;
}

/** The pod spec of a workload resource; undefined for other types or when it is unknown. */
export function podSpecOf(type: string, props: Json): PodSpec | undefined {
  for (const path of podSpecPaths(type)) {
    let node: Json = props;
    for (const key of path) node = obj(node)?.[key];
    const spec = obj(node);
    if (spec) return { path: path.join("."), spec };
  }
  return undefined;
}

export interface ContainerRef {
  /** "containers[1]" */
  readonly field: string;
  readonly name: string;
  readonly container: Record<string, Json>;
}

/** Every container of a pod spec: init, app and ephemeral. */
export function containersOf(spec: Record<string, Json>): ContainerRef[] {
  return (["initContainers", "containers", "ephemeralContainers"] as const).flatMap((list) =>
    arr(spec[list]).flatMap((c, i) => {
      const container = obj(c);
      return container
        ? [{ field: `${list}[${i}]`, name: str(container.name) ?? "(unnamed)", container }]
        : [];
    }),
  );
}

/** What a rule reports: the message, and for stack rules the resource it is about. */
export interface Finding {
  readonly message: string;
  readonly urn?: string;
}

/**
 * Reports each finding. `downgrade` reports at advisory whatever the policy's level (the server takes a
 * per-violation level from the object form of reportViolation, which leaves out the description line the
 * string form adds, so it is added here: the engine shows both forms alike).
 */
export function reportAll(
  report: ReportViolation,
  description: string,
  findings: readonly Finding[],
  downgrade = false,
): void {
  for (const f of findings) {
    if (downgrade) {
      const violation = { message: `${description}\n${f.message}`, urn: f.urn, enforcementLevel: "advisory" };
      // The object form is what @pulumi/policy's server accepts beside a string; its .d.ts declares only the string.
      (report as unknown as (v: typeof violation) => void)(violation);
    } else {
      report(f.message, f.urn);
    }
  }
}

/** JSON text of a value for messages, "(missing)" for undefined. */
export const show = (value: unknown): string => (value === undefined ? "(missing)" : JSON.stringify(value));
