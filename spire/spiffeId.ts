/**
 * SPIFFE ID and trust-domain rules as go-spiffe v2 (spiffeid.FromString) applies them, plus the extra rules the
 * SPIRE server applies to registration entries. Messages follow go-spiffe's wording so errors read the same as
 * the server's would.
 */

const trustDomainChars = /^[a-z0-9._-]+$/;
const segmentChars = /^[a-zA-Z0-9._-]+$/;

export interface SpiffeId {
  readonly trustDomain: string;
  /** Path including the leading slash; empty for a trust-domain ID. */
  readonly path: string;
}

export function parseTrustDomain(name: string): string {
  if (typeof name !== "string" || name === "") throw new Error("trust domain is missing");
  if (!trustDomainChars.test(name)) {
    throw new Error(
      "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores (no scheme, port or path)",
    );
  }
  return name;
}

export function parseSpiffeId(id: string): SpiffeId {
  if (typeof id !== "string" || id === "") throw new Error("cannot be empty");
  if (!id.startsWith("spiffe://"))
    throw new Error('scheme is missing or invalid: must start with "spiffe://"');
  const rest = id.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? "" : rest.slice(slash);
  parseTrustDomain(trustDomain);
  if (path !== "") {
    const segments = path.slice(1).split("/");
    for (const [i, segment] of segments.entries()) {
      if (segment === "") {
        throw new Error(
          i === segments.length - 1
            ? "path cannot have a trailing slash"
            : "path cannot contain empty segments",
        );
      }
      if (segment === "." || segment === "..") throw new Error("path cannot contain dot segments");
      if (!segmentChars.test(segment)) {
        throw new Error(
          "path segment characters are limited to letters, numbers, dots, dashes, and underscores",
        );
      }
    }
  }
  return { trustDomain, path };
}

export const trustDomainId = (trustDomain: string): string => `spiffe://${trustDomain}`;

/** The SPIRE server's rules for an entry's SPIFFE ID (not its parent ID). */
export function checkWorkloadId(id: string, trustDomain: string): SpiffeId {
  const parsed = checkMemberId(id, trustDomain);
  if (parsed.path === "/spire" || parsed.path.startsWith("/spire/")) {
    throw new Error('path is reserved: IDs under "/spire" belong to SPIRE itself');
  }
  return parsed;
}

/** Parent IDs may live under /spire (agents, the server), but must still be in the trust domain with a path. */
export function checkMemberId(id: string, trustDomain: string): SpiffeId {
  const parsed = parseSpiffeId(id);
  if (parsed.trustDomain !== trustDomain) {
    throw new Error(`is not a member of trust domain "${trustDomain}"`);
  }
  if (parsed.path === "") throw new Error("path is empty: an entry needs an ID below the trust domain");
  return parsed;
}

/** SPIRE's entry ID rule (custom IDs since 1.8). */
export function checkEntryId(id: string): string {
  if (typeof id !== "string" || id === "") throw new Error("cannot be empty");
  if (id.length > 255) throw new Error("must be at most 255 characters");
  if (!/^[A-Za-z0-9._-]+$/.test(id))
    throw new Error("characters are limited to A-Z, a-z, 0-9, '.', '_' and '-'");
  return id;
}
