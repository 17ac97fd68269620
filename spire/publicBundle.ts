/**
 * The one check that a SPIFFE bundle handed between stacks holds public material only. Used by
 * SpireInstallation's argument checks (federation.ts) when the value is known at construction, and by the
 * bundle runner (bin/spire-bundle.js, through its build in dist/spire/) on the value it is about to send. Pure.
 */

/** JWK members that carry private key material (RFC 7518 section 6). */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** Throws naming what is wrong unless `text` is a SPIFFE bundle (JWKS) with public keys only. */
export function checkPublicBundle(text: unknown): void {
  let parsed: { keys?: unknown };
  try {
    parsed = JSON.parse(String(text));
  } catch {
    throw new Error("must be a SPIFFE bundle in JSON (spire-server bundle show -format spiffe)");
  }
  if (!Array.isArray(parsed?.keys) || parsed.keys.length === 0) {
    throw new Error('must be a SPIFFE bundle: a JSON object with a non-empty "keys" list');
  }
  for (const key of parsed.keys as unknown[]) {
    const secret = PRIVATE_JWK_MEMBERS.filter((m) => key !== null && typeof key === "object" && m in key);
    if (secret.length > 0) {
      throw new Error(
        `holds private key material (JWK members ${secret.join(", ")}): share public certificates only`,
      );
    }
  }
}
