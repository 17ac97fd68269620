/**
 * Argument checking shared by every builder. Each problem names the field, the value and the rule, and all
 * problems of one call are reported together so a user fixes them in one round.
 */

export interface Problem {
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;
}

export class ValidationError extends Error {
  constructor(
    readonly subject: string,
    readonly problems: readonly Problem[],
  ) {
    super(
      `${subject}: invalid arguments:\n${problems.map((p) => `  - ${p.field} = ${show(p.value)}: ${p.rule}`).join("\n")}`,
    );
    this.name = "ValidationError";
  }
}

function show(value: unknown): string {
  if (value === undefined) return "(missing)";
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** Collects problems; `done()` throws one ValidationError listing all of them. */
export class Checker {
  private readonly problems: Problem[] = [];

  constructor(private readonly subject: string) {}

  fail(field: string, value: unknown, rule: string): void {
    this.problems.push({ field, value, rule });
  }

  /** Records a problem when `ok` is false; returns `ok` so callers can skip dependent checks. */
  check(ok: boolean, field: string, value: unknown, rule: string): boolean {
    if (!ok) this.fail(field, value, rule);
    return ok;
  }

  /** Runs a check that reports through an error message (e.g. a parser). */
  attempt<T>(field: string, value: unknown, parse: () => T): T | undefined {
    try {
      return parse();
    } catch (e) {
      this.fail(field, value, (e as Error).message);
      return undefined;
    }
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  done(): void {
    if (this.problems.length > 0) throw new ValidationError(this.subject, this.problems);
  }
}

const durationUnits: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * Parses the SPIRE/Go duration subset we accept ("90s", "1h", "1h30m") into seconds. Go accepts more units,
 * but sub-second TTLs are meaningless for SVIDs and days are not a Go unit.
 */
export function parseDuration(text: string): number {
  if (typeof text !== "string" || !/^(\d+[hms])+$/.test(text)) {
    throw new Error('must be a duration such as "90s", "45m", "1h" or "1h30m" (units h, m, s)');
  }
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([hms])/g))
    seconds += Number(amount) * durationUnits[unit];
  if (seconds <= 0) throw new Error("must be longer than 0s");
  return seconds;
}

export const isPort = (n: unknown): n is number =>
  Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

/** RFC 1123 label, the rule for Kubernetes namespaces, services and most object names. */
/** A Deployment's replica count as both workloads and gateways accept it. */
export const REPLICAS_RULE = "must be an integer in 0-1000";
export const isReplicaCount = (n: unknown): n is number =>
  Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 1000;

export const isDnsLabel = (s: unknown): s is string =>
  typeof s === "string" && s.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s);

/** RFC 1123 subdomain, the rule for ConfigMap, ServiceAccount and most other object names. */
export const isDnsSubdomain = (s: unknown): s is string =>
  typeof s === "string" &&
  s.length <= 253 &&
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s);

export const isAbsolutePath = (s: unknown): s is string =>
  typeof s === "string" && s.startsWith("/") && !s.includes("\0") && !s.split("/").includes("..");

/** Kubernetes resource quantity, e.g. "1Gi", "500Mi", "100m". */
export const isQuantity = (s: unknown): s is string =>
  typeof s === "string" && /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/.test(s) && s !== "";
