/**
 * Rule 6: no private keys in what the stack writes. SPIRE issues keys inside the cluster and hands them to Envoy
 * over SDS; a PEM private key in a ConfigMap, in a Secret the stack writes, or in a stack output is in Pulumi's
 * state and in etcd, and outlives every rotation. ConfigMaps and Secrets are checked as resources (before they
 * are created, so an update never writes the key), stack outputs as a stack (they exist only as a whole).
 * Messages name where the key is and its PEM header, never the key.
 */
import type {
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { type Finding, isUnknown, type Json, obj, plain, reportAll, str, subject } from "../support";

export const NO_KEY_MATERIAL = "no-key-material";

const description =
  "No private key material in ConfigMaps, in the data or stringData of Secrets the stack writes, or in stack " +
  "outputs: SPIRE issues keys in the cluster and delivers them over SDS, so a PEM private key here is a key " +
  "kept in Pulumi state.";

const PEM_PRIVATE_KEY = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----/;

/** The PEM header of a private key in the text, e.g. "RSA PRIVATE KEY". */
export const privateKeyHeader = (text: string): string | undefined => PEM_PRIVATE_KEY.exec(text)?.[1];

const decodeBase64 = (text: string): string => Buffer.from(text, "base64").toString("latin1");

const found = (what: string, field: string, header: string) => ({
  message: `${what}: ${field} holds a PEM private key (BEGIN ${header}): private keys must not be written by the stack; let SPIRE issue them and deliver them over SDS`,
});

/** Findings for the values of one map (data, stringData, binaryData), plain or base64. */
function mapFindings(what: string, field: string, map: Json, base64: boolean): Finding[] {
  const findings: Finding[] = [];
  for (const [key, value] of Object.entries(obj(map) ?? {})) {
    const text = str(value);
    if (text === undefined) continue; // unknown during preview: checked again on update
    const header = privateKeyHeader(text) ?? (base64 ? privateKeyHeader(decodeBase64(text)) : undefined);
    if (header) findings.push(found(what, `${field}.${key}`, header));
  }
  return findings;
}

export function resourceKeyFindings(type: string, props: Json, pulumiName: string): Finding[] {
  const what = subject(type, props, pulumiName);
  if (type === "kubernetes:core/v1:ConfigMap") {
    return [
      ...mapFindings(what, "data", props?.data, false),
      ...mapFindings(what, "binaryData", props?.binaryData, true),
    ];
  }
  if (type === "kubernetes:core/v1:Secret") {
    return [
      ...mapFindings(what, "data", props?.data, true),
      ...mapFindings(what, "stringData", props?.stringData, false),
    ];
  }
  return [];
}

/** Every string in a stack output value, with its path (`outputs.tls.key`, `outputs.certs[0]`). */
function* strings(value: Json, path: string): Generator<[string, string]> {
  if (typeof value === "string") {
    if (!isUnknown(value)) yield [path, value];
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) yield* strings(v, `${path}.${k}`);
  }
}

export function outputKeyFindings(stackOutputs: Json, stackUrn: string): Finding[] {
  const findings: Finding[] = [];
  for (const [name, value] of Object.entries(obj(stackOutputs) ?? {})) {
    for (const [path, text] of strings(value, name)) {
      const header = privateKeyHeader(text);
      if (header) findings.push({ ...found("stack outputs", path, header), urn: stackUrn });
    }
  }
  return findings;
}

/** One policy with both hooks: the server runs validateResource per resource and validateStack once. */
export const noKeyMaterialPolicy: ResourceValidationPolicy & StackValidationPolicy = {
  name: NO_KEY_MATERIAL,
  description,
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report) => {
    if (args.type !== "kubernetes:core/v1:ConfigMap" && args.type !== "kubernetes:core/v1:Secret") return;
    reportAll(report, description, resourceKeyFindings(args.type, plain(args.props), args.name));
  },
  validateStack: (args: StackValidationArgs, report) => {
    for (const r of args.resources) {
      if (r.type !== "pulumi:pulumi:Stack") continue;
      reportAll(report, description, outputKeyFindings(plain(r.props), r.urn));
    }
  },
};
