// @ts-check
/**
 * Whether a peer's bundle snapshot (its stack's `bundle` output, SPIFFE format) may still be given to our server
 * with `bundle set`. The snapshot is only a bootstrap: once the server holds the peer's bundle, SPIRE keeps it
 * fresh from the peer's endpoint, and a later run of the same command (a new server generation, a kubeconfig
 * change) must not put the older snapshot back: with SPIRE's default 24h CA it soon holds only retired roots,
 * and it would re-trust a root the peer has rotated out.
 *
 * The server's copy is kept when it is at least as new as the snapshot: its newest root is no older than the
 * snapshot's newest root, and, when both came from snapshots, its sequence number is at least the snapshot's.
 * Roots decide because SPIRE 1.13.3 stores a bundle it refreshed from the peer's endpoint with sequence number 0
 * (the endpoint serves `spiffe_sequence`, the stored copy drops it; tests/local/federationBootstrap.test.ts),
 * and because a peer rebuilt from scratch restarts its sequence while its roots are newer, so its new bundle is
 * still taken. A snapshot whose roots have all expired is refused.
 */

const { X509Certificate } = require("node:crypto");

/** The X.509 roots of a SPIFFE bundle (JWKS): keys used for X509-SVIDs, each with its certificate in x5c. */
function snapshotRoots(/** @type {any} */ bundle) {
  return (bundle?.keys ?? [])
    .filter((/** @type {any} */ k) => k?.use === "x509-svid" && Array.isArray(k.x5c) && k.x5c.length > 0)
    .map((/** @type {any} */ k) => new X509Certificate(Buffer.from(String(k.x5c[0]), "base64")));
}

/** The X.509 roots of a bundle as `spire-server bundle list -output json` prints it. */
function heldRoots(/** @type {any} */ held) {
  return (held?.x509_authorities ?? []).map(
    (/** @type {any} */ a) => new X509Certificate(Buffer.from(String(a.asn1), "base64")),
  );
}

const sequenceOf = (/** @type {unknown} */ value) => BigInt(String(value ?? 0));
const newestStart = (/** @type {X509Certificate[]} */ roots) =>
  Math.max(0, ...roots.map((r) => Date.parse(r.validFrom)));

/** Throws, naming the peer, unless some root of the snapshot is still valid at `now`. */
function checkUsable(
  /** @type {string} */ trustDomain,
  /** @type {X509Certificate[]} */ roots,
  now = Date.now(),
) {
  if (roots.length === 0) {
    throw new Error(
      `the bundle for ${trustDomain} holds no X.509 root: its endpoint could not be authenticated with it`,
    );
  }
  const latest = Math.max(...roots.map((r) => Date.parse(r.validTo)));
  if (latest <= now) {
    throw new Error(
      `the bundle for ${trustDomain} holds only expired roots (the last expired ${new Date(latest).toISOString()}): ` +
        `it is a stale snapshot of that peer's bundle. Run pulumi up on the ${trustDomain} stack so it publishes ` +
        "its current bundle, then run pulumi up here again",
    );
  }
}

/**
 * "keep" when the server's copy (`held`, undefined when it has none) is at least as new as the snapshot;
 * otherwise "set", after checking the snapshot can still authenticate the peer. `reason` says why, for the log.
 */
function bootstrapDecision(
  /** @type {string} */ trustDomain,
  /** @type {any} */ snapshot,
  /** @type {any} */ held,
  now = Date.now(),
) {
  const roots = snapshotRoots(snapshot);
  const snapshotSequence = sequenceOf(snapshot?.spiffe_sequence);
  if (held !== undefined) {
    // 0: refreshed by SPIRE from the peer's endpoint, which drops the number; only roots compare then.
    const heldSequence = sequenceOf(held.sequence_number);
    const sequenceAsNew = heldSequence === 0n || heldSequence >= snapshotSequence;
    if (sequenceAsNew && newestStart(heldRoots(held)) >= newestStart(roots)) {
      return {
        action: "keep",
        reason: `the server's bundle for ${trustDomain} is at least as new as the snapshot (its newest root is no older); SPIRE keeps it fresh from the peer's endpoint`,
      };
    }
  }
  checkUsable(trustDomain, roots, now);
  return {
    action: "set",
    reason:
      held === undefined
        ? `the server holds no bundle for ${trustDomain}`
        : `the snapshot is newer than the server's bundle for ${trustDomain} (a newer root or a higher sequence number)`,
  };
}

/** The bundle for `trustDomain` in `bundle list -output json`'s answer; undefined when the server has none. */
function heldBundle(/** @type {any} */ listed, /** @type {string} */ trustDomain) {
  const name = (/** @type {unknown} */ td) => String(td ?? "").replace(/^spiffe:\/\//, "");
  return (listed?.bundles ?? []).find((/** @type {any} */ b) => name(b?.trust_domain) === trustDomain);
}

module.exports = { bootstrapDecision, heldBundle };
