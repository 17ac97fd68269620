// @ts-check
/** Entries as the server shows them and as a plan expects them, in one comparable shape, named as SPIRE names them. */

/**
 * Fields our entries never set, and what they must then be: an entry holding another value under our ID (made
 * in advance under the predictable ID, or changed later with `entry update -admin`) grants more than the plan
 * says, so it counts as differing and the update, which replaces the whole entry, resets it.
 *   admin: the SVID may call the server's management API. downstream: it may mint SVIDs as a nested server.
 *   store_svid: the SVID goes to an SVIDStore plugin. expires_at: the entry is pruned then. jwt_svid_ttl: JWT
 *   lifetime. hint: what workloads see to tell identities apart.
 */
const UNSET = {
  admin: false,
  downstream: false,
  store_svid: false,
  expires_at: 0,
  jwt_svid_ttl: 0,
  hint: "",
};

/** @param {any} e an entry from `entry show -output json` (protojson: unset fields are absent) */
function normalizeShown(e) {
  const id = (/** @type {any} */ x) => `spiffe://${x.trust_domain}${x.path}`;
  return {
    spiffe_id: id(e.spiffe_id),
    parent_id: id(e.parent_id),
    selectors: (e.selectors ?? []).map((/** @type {any} */ s) => `${s.type}:${s.value}`).sort(),
    x509_svid_ttl: Number(e.x509_svid_ttl ?? 0),
    dns_names: [...(e.dns_names ?? [])],
    // Shown as bare trust domain names; a plan written before federation existed has none.
    federates_with: [...(e.federates_with ?? [])].map((td) => String(td).replace(/^spiffe:\/\//, "")).sort(),
    admin: e.admin === true,
    downstream: e.downstream === true,
    store_svid: e.store_svid === true,
    expires_at: Number(e.expires_at ?? 0),
    jwt_svid_ttl: Number(e.jwt_svid_ttl ?? 0),
    hint: String(e.hint ?? ""),
  };
}

/**
 * @param {any} expect a plan's resolved entry
 * @param {number} serverDefaultTtl what the server shows for an entry without a TTL of its own
 */
function normalizeExpected(expect, serverDefaultTtl) {
  return {
    spiffe_id: expect.spiffeId,
    parent_id: expect.parentId,
    selectors: expect.selectors.map((/** @type {any} */ s) => `${s.type}:${s.value}`).sort(),
    x509_svid_ttl: expect.x509SvidTtl || serverDefaultTtl,
    dns_names: [...expect.dnsNames],
    federates_with: [...(expect.federatesWith ?? [])].sort(),
    ...UNSET,
  };
}

/**
 * The fields in which the server's entry differs from what the plan expects (an unset TTL matches what the
 * server shows); empty when it already is what the plan says.
 * @returns {string[]}
 */
function differences(/** @type {any} */ shown, /** @type {any} */ expect) {
  const have = /** @type {Record<string, unknown>} */ (normalizeShown(shown));
  const want = /** @type {Record<string, unknown>} */ (normalizeExpected(expect, Number(have.x509_svid_ttl)));
  return Object.keys(want).filter((k) => JSON.stringify(have[k]) !== JSON.stringify(want[k]));
}

module.exports = { differences };
