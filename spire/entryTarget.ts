/**
 * Which SPIRE server an entry (or a set of entries) is registered with: an installation's, through its exec
 * prefix, or a server given by argv. Also what the server accepts: trust domain, selector types, TTL bound.
 * Shared by SpireEntry and SpireEntrySet. Pure.
 */
import { Checker, parseDuration } from "../core/validation";
import type { EntryContext } from "./entries";
import { CA_TTL_FACTOR, type SpireSettings, serverExecPrefix } from "./settings";
import { parseTrustDomain } from "./spiffeId";

export interface EntryTargetArgs {
  /** The installation's checked settings. Or give `serverExecPrefix` and `trustDomain`. */
  readonly settings?: SpireSettings;
  /** argv that runs the server CLI, for a SPIRE this stack does not manage. Conflicts with an installation. */
  readonly serverExecPrefix?: readonly string[];
  /** Trust domain of that server; required with `serverExecPrefix`. */
  readonly trustDomain?: string;
  /** Admin socket of that server, when not SPIRE's default. */
  readonly serverSocketPath?: string;
}

export interface EntryTarget extends EntryContext {
  readonly prefix: readonly string[];
  readonly socketPath?: string;
}

export function entryTarget(subject: string, args: EntryTargetArgs): EntryTarget {
  const c = new Checker(subject);
  if (args.settings) {
    c.check(
      args.serverExecPrefix === undefined,
      "serverExecPrefix",
      args.serverExecPrefix,
      "conflicts with installation",
    );
    c.check(
      args.trustDomain === undefined,
      "trustDomain",
      args.trustDomain,
      "conflicts with installation (it has one)",
    );
    c.done();
    const s = args.settings;
    return {
      prefix: serverExecPrefix(s),
      socketPath: s.serverSocketPath,
      trustDomain: s.trustDomain,
      selectorTypes: s.selectorTypes,
      // An adopted server's CA lifetime is unknown to us; SPIRE itself caps SVIDs at the CA's expiry.
      maxTtlSeconds: s.mode === "install" ? parseDuration(s.caTtl) / CA_TTL_FACTOR : undefined,
      // An installed server federates with exactly what its config lists; an adopted one's is unknown.
      federatedTrustDomains:
        s.mode === "install" ? (s.federation?.federatesWith ?? []).map((p) => p.trustDomain) : undefined,
    };
  }
  c.check(
    Array.isArray(args.serverExecPrefix) &&
      args.serverExecPrefix.length > 0 &&
      args.serverExecPrefix.every((a) => typeof a === "string" && a !== ""),
    "serverExecPrefix",
    args.serverExecPrefix,
    "is required without installation: a non-empty argv of non-empty strings",
  );
  c.attempt("trustDomain", args.trustDomain, () => parseTrustDomain(args.trustDomain as string));
  c.done();
  return {
    prefix: [...(args.serverExecPrefix as string[])],
    socketPath: args.serverSocketPath,
    trustDomain: args.trustDomain as string,
    selectorTypes: ["k8s_psat", "k8s", "unix", "spiffe_id", "join_token"],
    maxTtlSeconds: undefined,
  };
}
