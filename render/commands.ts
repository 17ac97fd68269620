/**
 * A command resource as the text a reviewer reads in the render's commands/<name>.txt: each step's argv, and
 * for our entry runners the entries the plan declares, one line each, rather than a wall of JSON.
 */
import type { DeclaredEntry } from "../spire/entryDiff";
import type { RecordedResource } from "./runtime";

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

const argv = (value: readonly unknown[]) => value.map((a) => shellQuote(String(a))).join(" ");

const isEntry = (value: unknown): value is DeclaredEntry =>
  value !== null && typeof value === "object" && "spiffeId" in value && "selectors" in value;

/** One declared entry on one line: ID, SPIFFE ID, parent, selectors, and the optional fields it sets. */
export function describeEntry(e: DeclaredEntry): string {
  const parts = [
    `${e.entryId}: ${e.spiffeId}`,
    `parent ${e.parentId}`,
    `selectors ${e.selectors.map((s) => `${s.type}:${s.value}`).join(", ")}`,
    e.x509SvidTtl > 0 ? `x509 TTL ${e.x509SvidTtl}s` : "x509 TTL server default",
  ];
  if (e.dnsNames.length > 0) parts.push(`dns ${e.dnsNames.join(", ")}`);
  if (e.federatesWith.length > 0) parts.push(`federates with ${e.federatesWith.join(", ")}`);
  return parts.join("; ");
}

/** A plan's fields: argv as shell words, entries one per line, anything else as JSON. */
function describePlan(plan: Record<string, unknown>): string[] {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(plan)) {
    if (isEntry(value)) lines.push(`${key}: ${describeEntry(value)}`);
    else if (Array.isArray(value) && value.length > 0 && value.every(isEntry))
      lines.push(`${key}: ${value.length} entries`, ...value.map((e) => `  - ${describeEntry(e)}`));
    else if (Array.isArray(value) && value.every((a) => typeof a === "string"))
      lines.push(`${key}: ${argv(value)}`);
    else if (value !== null && typeof value === "object" && !Array.isArray(value))
      lines.push(...describePlan(value as Record<string, unknown>).map((l) => `${key}.${l}`));
    else if (key === "data" && Array.isArray(value))
      lines.push(`data: the same ${value.length} entries in spire-server's \`entry create -data\` form`);
    else lines.push(`${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  return lines;
}

const parseObject = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

/** A command resource as text: for our entry runners, each step's argv and entries; otherwise the raw command. */
export function describeCommand(r: RecordedResource): string {
  const inputs = r.inputs as {
    interpreter?: string[];
    create?: string;
    update?: string;
    delete?: string;
    stdin?: string;
    environment?: Record<string, unknown> | string;
  };
  const lines = [
    `# ${r.type} ${r.name}`,
    `interpreter: ${(inputs.interpreter ?? ["/bin/sh", "-c"]).join(" ")}`,
  ];
  for (const step of ["create", "update", "delete"] as const) {
    const text = inputs[step];
    if (text === undefined) continue;
    lines.push("", `## ${step}`);
    const plan = parseObject(text);
    if (plan) lines.push(...describePlan(plan), `plan: ${text}`);
    else lines.push(text);
  }
  if (inputs.stdin !== undefined) {
    // SpireEntrySet's plan travels on stdin; each step's argument names it by hash.
    const plan = parseObject(inputs.stdin);
    lines.push("", "## stdin (read by every step)", ...(plan ? describePlan(plan) : [inputs.stdin]));
  }
  // Only the names: values can be secrets (kubeconfig contents); a secret environment shows as one marker.
  const environment =
    typeof inputs.environment === "string"
      ? inputs.environment
      : Object.keys(inputs.environment ?? {}).join(", ") || "(none)";
  lines.push("", `environment: ${environment}`);
  return `${lines.join("\n")}\n`;
}
