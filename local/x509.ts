/** X.509 helpers for checking what SPIRE serves: PEM splitting, lifetimes, and chain-to-bundle verification. */
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";

/** Splits a PEM bundle or chain into certificates, in order. */
export function certificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block),
  );
}

export const lifetimeSeconds = (cert: X509Certificate): number =>
  (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;

/** Walks leaf -> intermediates -> a root of the bundle; each link must be issued and signed by the next. */
export function assertChainsToBundle(
  chain: readonly X509Certificate[],
  bundle: readonly X509Certificate[],
): void {
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i];
    const issuer = chain[i + 1] ?? bundle.find((root) => cert.checkIssued(root));
    assert.ok(issuer, `no issuer for ${cert.subject} in the chain or the bundle`);
    assert.ok(cert.checkIssued(issuer), `${cert.subject} is not issued by ${issuer.subject}`);
    assert.ok(cert.verify(issuer.publicKey), `${cert.subject} is not signed by ${issuer.subject}`);
  }
}
