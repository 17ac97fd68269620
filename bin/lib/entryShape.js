// @ts-check
/** Entries as the server shows them and as a plan expects them, in one comparable shape. */

/** @param {any} e an entry from `entry show -output json` */
function normalizeShown(e) {
  const id = (/** @type {any} */ x) => `spiffe://${x.trust_domain}${x.path}`;
  return {
    spiffeId: id(e.spiffe_id),
    parentId: id(e.parent_id),
    selectors: (e.selectors ?? []).map((/** @type {any} */ s) => `${s.type}:${s.value}`).sort(),
    x509SvidTtl: Number(e.x509_svid_ttl ?? 0),
    dnsNames: [...(e.dns_names ?? [])],
    // Shown as bare trust domain names; a plan written before federation existed has none.
    federatesWith: [...(e.federates_with ?? [])].map((td) => String(td).replace(/^spiffe:\/\//, "")).sort(),
  };
}

/**
 * @param {any} expect a plan's resolved entry
 * @param {number} serverDefaultTtl what the server shows for an entry without a TTL of its own
 */
function normalizeExpected(expect, serverDefaultTtl) {
  return {
    spiffeId: expect.spiffeId,
    parentId: expect.parentId,
    selectors: expect.selectors.map((/** @type {any} */ s) => `${s.type}:${s.value}`).sort(),
    x509SvidTtl: expect.x509SvidTtl || serverDefaultTtl,
    dnsNames: [...expect.dnsNames],
    federatesWith: [...(expect.federatesWith ?? [])].sort(),
  };
}

/** Whether the server's entry already is what the plan expects (an unset TTL matches what the server shows). */
const matches = (/** @type {any} */ shown, /** @type {any} */ expect) => {
  const have = normalizeShown(shown);
  return JSON.stringify(have) === JSON.stringify(normalizeExpected(expect, have.x509SvidTtl));
};

module.exports = { matches, normalizeExpected, normalizeShown };
