#!/usr/bin/env node
// @ts-check
/**
 * Runs one lifecycle step of a SpireEntry. @pulumi/command hands us the step as a JSON plan (its single
 * argument); every process is started from an argv list, never through a shell, because the SPIRE images have
 * no shell and entry values must not be re-parsed. The plan is built by spire/entries.ts.
 *
 *   create: entry create; on AlreadyExists, compare `entry show` with the plan and `entry update` if it differs.
 *   update: entry update; if the entry vanished out of band, create it again.
 *   delete: entry delete; an entry that is already gone counts as deleted.
 *
 * Kubernetes access comes from the environment: KUBECONFIG, and SPIRE_MESH_KUBE_CONTEXT for a context.
 */

const { spawnSync } = require("node:child_process");

const OK = 0;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/** @param {readonly string[]} argv */
function withContext(argv) {
  const context = process.env.SPIRE_MESH_KUBE_CONTEXT;
  if (!context || !argv[0]?.endsWith("kubectl")) return [...argv];
  return [argv[0], "--context", context, ...argv.slice(1)];
}

/** Runs argv; returns parsed JSON stdout. Throws with stderr when the process fails. */
function run(/** @type {readonly string[]} */ argv) {
  const [file, ...args] = withContext(argv);
  const result = spawnSync(file, args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  if (result.error) throw new Error(`could not start ${file}: ${result.error.message}`);
  if (result.status !== 0) {
    const err = new Error(`${[file, ...args].join(" ")} exited ${result.status}: ${result.stderr.trim()}`);
    /** @type {any} */ (err).stderr = result.stderr;
    throw err;
  }
  return JSON.parse(result.stdout);
}

/** The status of the single result of a create/update/delete call. */
function statusOf(/** @type {any} */ output) {
  const status = output?.results?.[0]?.status ?? {};
  return { code: Number(status.code ?? OK), message: String(status.message ?? "") };
}

/** @param {any} e an entry from `entry show -output json` */
function normalizeShown(e) {
  const id = (/** @type {any} */ x) => `spiffe://${x.trust_domain}${x.path}`;
  return {
    spiffeId: id(e.spiffe_id),
    parentId: id(e.parent_id),
    selectors: (e.selectors ?? []).map((/** @type {any} */ s) => `${s.type}:${s.value}`).sort(),
    x509SvidTtl: Number(e.x509_svid_ttl ?? 0),
    dnsNames: [...(e.dns_names ?? [])],
  };
}

/** @param {any} expect the plan's resolved entry */
function normalizeExpected(expect, /** @type {number} */ serverDefaultTtl) {
  return {
    spiffeId: expect.spiffeId,
    parentId: expect.parentId,
    selectors: expect.selectors.map((/** @type {any} */ s) => `${s.type}:${s.value}`).sort(),
    x509SvidTtl: expect.x509SvidTtl || serverDefaultTtl,
    dnsNames: [...expect.dnsNames],
  };
}

function show(/** @type {any} */ plan) {
  try {
    return run(plan.show).entries?.[0];
  } catch (e) {
    if (/NotFound|not found/.test(String(/** @type {any} */ (e).stderr ?? e))) return undefined;
    throw e;
  }
}

/** @returns {string} the outcome */
function createStep(/** @type {any} */ plan) {
  const created = statusOf(run(plan.create));
  if (created.code === OK) return "created";
  if (created.code !== ALREADY_EXISTS) throw new Error(`entry create failed: ${created.message}`);
  const existing = show(plan);
  if (!existing) {
    throw new Error(
      `entry create: ${created.message}, but not under ID ${plan.expect.entryId}: an entry with the same parent, ` +
        "SPIFFE ID and selectors was created outside this stack; delete it (spire-server entry delete) and retry",
    );
  }
  const have = normalizeShown(existing);
  // An unset TTL shows as the server default; treat "default" as matching whatever the server reports.
  const want = normalizeExpected(plan.expect, have.x509SvidTtl);
  if (JSON.stringify(have) === JSON.stringify(want)) return "unchanged";
  const updated = statusOf(run(plan.update));
  if (updated.code !== OK) throw new Error(`entry update of a differing entry failed: ${updated.message}`);
  return "updated";
}

function updateStep(/** @type {any} */ plan) {
  const updated = statusOf(run(plan.update));
  if (updated.code === OK) return "updated";
  if (updated.code === NOT_FOUND) return createStep(plan);
  throw new Error(`entry update failed: ${updated.message}`);
}

function deleteStep(/** @type {any} */ plan) {
  const deleted = statusOf(run(plan.delete));
  if (deleted.code === OK) return "deleted";
  if (deleted.code === NOT_FOUND) return "already absent";
  throw new Error(`entry delete failed: ${deleted.message}`);
}

function main() {
  const plan = JSON.parse(process.argv[2] ?? "{}");
  const steps = { create: createStep, update: updateStep, delete: deleteStep };
  const step = steps[/** @type {keyof typeof steps} */ (plan.step)];
  if (!step) throw new Error(`unknown step ${JSON.stringify(plan.step)}`);
  const outcome = step(plan);
  process.stdout.write(`${JSON.stringify({ entryId: plan.entryId, outcome })}\n`);
}

try {
  main();
} catch (e) {
  process.stderr.write(`spire-entry: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
}
