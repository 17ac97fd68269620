// @ts-check
/**
 * The one check that a SPIFFE bundle handed between stacks holds public material only. Used by the bundle
 * runner on the value it is about to send, and by SpireInstallation's argument checks (spire/federation.ts)
 * when the value is known at construction.
 */

/** JWK members that carry private key material (RFC 7518 section 6). */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/** Throws naming what is wrong unless `text` is a SPIFFE bundle (JWKS) with public keys only. */
function checkPublicBundle(/** @type {unknown} */ text) {
  /** @type {any} */
  let parsed;
  try {
    parsed = JSON.parse(String(text));
  } catch {
    throw new Error("must be a SPIFFE bundle in JSON (spire-server bundle show -format spiffe)");
  }
  if (!Array.isArray(parsed?.keys) || parsed.keys.length === 0) {
    throw new Error('must be a SPIFFE bundle: a JSON object with a non-empty "keys" list');
  }
  for (const key of parsed.keys) {
    const secret = PRIVATE_JWK_MEMBERS.filter((m) => key !== null && typeof key === "object" && m in key);
    if (secret.length > 0) {
      throw new Error(
        `holds private key material (JWK members ${secret.join(", ")}): share public certificates only`,
      );
    }
  }
}

module.exports = { checkPublicBundle };
