/**
 * Rule 5: SVID lifetimes. The server's default_x509_svid_ttl and every entry's -x509SVIDTTL lie within
 * [minSvidTtl, maxSvidTtl], and the server's ca_ttl is at least caTtlRatio (6) times each of them: SPIRE rotates
 * an SVID at half its life and the CA at half of its own, so the CA must outlive several SVID generations for
 * rotation to always overlap. Server configs are found by content (HCL with a `server {` block) in ConfigMaps,
 * entries by their `spire-server entry create|update` arguments in command resources, and a SpireEntrySet's by
 * the batch plan on its command's stdin (`data[].x509_svid_ttl`, what `entry create -data -` reads).
 */
import type { PolicyResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import {
  arr,
  durationSchema,
  type Finding,
  formatSeconds,
  type Json,
  obj,
  parseGoDuration,
  plain,
  reportAll,
  str,
  subject,
} from "../support";

export const SVID_LIFETIMES = "svid-lifetimes";

export interface SvidLifetimesConfig {
  readonly minSvidTtl?: string;
  readonly maxSvidTtl?: string;
  readonly caTtlRatio?: number;
}

export const SVID_LIFETIMES_DEFAULTS = { minSvidTtl: "5m", maxSvidTtl: "24h", caTtlRatio: 6 };

/** SPIRE's own defaults when server.conf leaves them out. */
const SPIRE_DEFAULT_CA_TTL = "24h";
const SPIRE_DEFAULT_SVID_TTL = "1h";

const description =
  "SVID lifetimes are bounded and overlap: the server's default_x509_svid_ttl and every entry's -x509SVIDTTL " +
  "lie within minSvidTtl-maxSvidTtl (default 5m-24h), and ca_ttl is at least caTtlRatio (default 6) times each " +
  "of them, so that rotation at half-life always overlaps.";

interface ServerConfig {
  readonly what: string;
  readonly urn: string;
  readonly caTtl: { readonly text: string; readonly seconds: number };
  readonly svidTtl: { readonly text: string; readonly seconds: number };
}

interface EntryTtl {
  readonly what: string;
  /** `-x509SVIDTTL` (argv) or `x509_svid_ttl` (batch plan). */
  readonly field: string;
  readonly urn: string;
  readonly seconds: number;
}

const hclString = (text: string, key: string): string | undefined =>
  new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, "m").exec(text)?.[1];

function serverConfigs(resources: readonly PolicyResource[]): {
  servers: ServerConfig[];
  findings: Finding[];
} {
  const servers: ServerConfig[] = [];
  const findings: Finding[] = [];
  for (const r of resources) {
    if (r.type !== "kubernetes:core/v1:ConfigMap") continue;
    const props = plain(r.props);
    for (const [key, value] of Object.entries(obj(props?.data) ?? {})) {
      const text = str(value);
      if (!text || !/^\s*server\s*\{/m.test(text) || !/\btrust_domain\s*=/.test(text)) continue;
      const what = `${subject(r.type, props, r.name)} ${key}`;
      const read = (hclKey: string, fallback: string) => {
        const raw = hclString(text, hclKey) ?? fallback;
        const seconds = parseGoDuration(raw);
        if (seconds === undefined) {
          findings.push({
            message: `${what}: ${hclKey} = ${JSON.stringify(raw)}: not a duration`,
            urn: r.urn,
          });
        }
        return seconds === undefined ? undefined : { text: raw, seconds };
      };
      const caTtl = read("ca_ttl", SPIRE_DEFAULT_CA_TTL);
      const svidTtl = read(
        "default_x509_svid_ttl",
        hclString(text, "default_svid_ttl") ?? SPIRE_DEFAULT_SVID_TTL,
      );
      if (caTtl && svidTtl) servers.push({ what, urn: r.urn, caTtl, svidTtl });
    }
  }
  return { servers, findings };
}

/** `-x509SVIDTTL 3600`, `-x509SVIDTTL=3600`, or inside a JSON argv `"-x509SVIDTTL","3600"`. */
const TTL_FLAG = /-x509SVIDTTL(?:\\?"\s*,\s*\\?"|\s+|=)(\d+)/g;

/** The `x509_svid_ttl` of every entry in a batch plan on stdin; [] when stdin is not such a plan. */
function batchPlanTtls(stdin: string | undefined): number[] {
  if (!stdin) return [];
  let plan: Json;
  try {
    plan = JSON.parse(stdin);
  } catch {
    return [];
  }
  return arr(obj(plan)?.data).flatMap((entry) => {
    const ttl = obj(entry)?.x509_svid_ttl;
    return typeof ttl === "number" ? [ttl] : [];
  });
}

function entryTtls(resources: readonly PolicyResource[]): EntryTtl[] {
  const ttls: EntryTtl[] = [];
  for (const r of resources) {
    if (r.type !== "command:local:Command") continue;
    const props = plain(r.props);
    // TTL -> the field that sets it, as the command spells it.
    const seen = new Map<number, string>();
    for (const seconds of batchPlanTtls(str(props?.stdin))) seen.set(seconds, "x509_svid_ttl");
    for (const step of ["create", "update"]) {
      for (const [, value] of (str(props?.[step]) ?? "").matchAll(TTL_FLAG))
        seen.set(Number(value), "-x509SVIDTTL");
    }
    // The entry component the command belongs to names the entry better than the command does.
    const owner = r.parent && /^spire-mesh:index:SpireEntry/.test(r.parent.type) ? r.parent : undefined;
    const what = owner ? `${owner.type.split(":").pop()} ${owner.name}` : `Command ${r.name}`;
    // 0 means "the server's default", which is checked with the server config.
    for (const [seconds, field] of seen) {
      if (seconds > 0) ttls.push({ what, field, urn: owner?.urn ?? r.urn, seconds });
    }
  }
  return ttls;
}

export function lifetimeFindings(
  resources: readonly PolicyResource[],
  config: SvidLifetimesConfig,
): Finding[] {
  const c = { ...SVID_LIFETIMES_DEFAULTS, ...config };
  const min = parseGoDuration(c.minSvidTtl) ?? 0;
  const max = parseGoDuration(c.maxSvidTtl) ?? Number.POSITIVE_INFINITY;
  const bounds = `${c.minSvidTtl}-${c.maxSvidTtl} (minSvidTtl-maxSvidTtl)`;
  const { servers, findings } = serverConfigs(resources);
  const entries = entryTtls(resources);

  const outOfBounds = (seconds: number) => seconds < min || seconds > max;
  for (const s of servers) {
    if (outOfBounds(s.svidTtl.seconds)) {
      findings.push({
        message: `${s.what}: default_x509_svid_ttl = ${JSON.stringify(s.svidTtl.text)}: outside the SVID lifetime bounds ${bounds}`,
        urn: s.urn,
      });
    }
  }
  for (const e of entries) {
    if (outOfBounds(e.seconds)) {
      findings.push({
        message: `${e.what}: ${e.field} = ${e.seconds} (${formatSeconds(e.seconds)}): outside the SVID lifetime bounds ${bounds}`,
        urn: e.urn,
      });
    }
  }
  for (const s of servers) {
    // The CA must cover the longest SVID it signs: the server default or an entry's own TTL.
    const ttls = [
      { what: "default_x509_svid_ttl", seconds: s.svidTtl.seconds },
      ...entries.map((e) => ({ what: `${e.what} ${e.field}`, seconds: e.seconds })),
    ];
    const longest = Math.max(...ttls.map((t) => t.seconds));
    const needed = longest * c.caTtlRatio;
    if (s.caTtl.seconds >= needed) continue;
    const sources = ttls.filter((t) => t.seconds === longest).map((t) => t.what);
    const named = sources.length > 4 ? [...sources.slice(0, 3), `${sources.length - 3} more`] : sources;
    findings.push({
      message:
        `${s.what}: ca_ttl = ${JSON.stringify(s.caTtl.text)} is less than ${c.caTtlRatio} × the longest SVID TTL ` +
        `${formatSeconds(longest)} (${named.join(", ")}): ca_ttl must be at least ${formatSeconds(needed)} ` +
        "(caTtlRatio) so that rotation at half-life always overlaps",
      urn: s.urn,
    });
  }
  return findings;
}

export const svidLifetimesPolicy: StackValidationPolicy = {
  name: SVID_LIFETIMES,
  description,
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      minSvidTtl: durationSchema(
        "Shortest SVID lifetime allowed (Go duration).",
        SVID_LIFETIMES_DEFAULTS.minSvidTtl,
      ),
      maxSvidTtl: durationSchema(
        "Longest SVID lifetime allowed (Go duration).",
        SVID_LIFETIMES_DEFAULTS.maxSvidTtl,
      ),
      caTtlRatio: {
        type: "number",
        minimum: 1,
        default: SVID_LIFETIMES_DEFAULTS.caTtlRatio,
        description: "ca_ttl must be at least this many times every SVID TTL.",
      },
    },
  },
  validateStack: (args: StackValidationArgs, report) => {
    reportAll(report, description, lifetimeFindings(args.resources, args.getConfig<SvidLifetimesConfig>()));
  },
};
