#!/usr/bin/env node
// @ts-check
/**
 * Runs one lifecycle step of a SpireEntrySet: many entries in a handful of batch calls, each with the entries as
 * JSON on stdin. The plan (its single argument) is built by spire/entrySet.ts.
 *
 *   create, update: converge the server on the plan. One `entry show` says what is there; then one
 *     `entry create` for the entries missing, one `entry update` for those that differ, and (update only) one
 *     `entry delete` for the entries the previous run registered (its stdout, PULUMI_COMMAND_STDOUT) that the
 *     plan no longer has. Entries already right are left alone. A partial failure leaves the server where the
 *     next run converges from it, since every run starts from what the server shows.
 *   delete: one `entry delete` of every entry; absent ones count as deleted; with deleteWithoutServer, so does
 *     a server whose pod or namespace is gone.
 *
 * Fails naming each entry that failed, by SPIFFE ID. Stdout: the registered entry IDs and what was done.
 * Processes and Kubernetes access: lib/serverCli.js.
 */

const { matches } = require("./lib/entryShape");
const { NOT_FOUND, OK, run, runDelete } = require("./lib/serverCli");

/** The entry IDs the previous create or update registered, from its stdout. */
function previousIds() {
  try {
    return /** @type {string[]} */ (JSON.parse(process.env.PULUMI_COMMAND_STDOUT ?? "{}").entryIds ?? []);
  } catch {
    return [];
  }
}

/**
 * Runs one batch call for `items` (skipped when empty); returns the failures by SPIFFE ID.
 * @param {readonly string[]} argv
 * @param {any} stdin
 * @param {(index: number) => string} label
 * @param {(code: number) => boolean} ok
 */
async function batch(argv, stdin, count, label, ok) {
  if (count === 0) return [];
  const output = /** @type {any} */ (await run(argv, JSON.stringify(stdin)));
  const results = output.results ?? [];
  const failures = [];
  for (let i = 0; i < count; i++) {
    const status = results[i]?.status ?? { code: -1, message: "no result" };
    if (!ok(Number(status.code))) failures.push(`${label(i)}: ${status.message} (code ${status.code})`);
  }
  return failures;
}

async function converge(/** @type {any} */ plan, /** @type {boolean} */ removePrevious) {
  const shown = /** @type {any} */ (await run(plan.commands.show)).entries ?? [];
  const onServer = new Map(shown.map((/** @type {any} */ e) => [e.id, e]));
  const create = [];
  const update = [];
  let unchanged = 0;
  for (const [i, expect] of plan.expect.entries()) {
    const current = onServer.get(expect.entryId);
    if (!current) create.push(i);
    else if (!matches(current, expect)) update.push(i);
    else unchanged++;
  }
  const wanted = new Set(plan.expect.map((/** @type {any} */ e) => e.entryId));
  const remove = removePrevious ? previousIds().filter((id) => !wanted.has(id) && onServer.has(id)) : [];
  const spiffeIdOf = (/** @type {number} */ i) => plan.expect[i].spiffeId;
  const failures = [
    // AlreadyExists here means a similar entry under another ID, registered outside this set.
    ...(await batch(
      plan.commands.create,
      { entries: create.map((i) => plan.data[i]) },
      create.length,
      (k) => spiffeIdOf(create[k]),
      (code) => code === OK,
    )),
    ...(await batch(
      plan.commands.update,
      { entries: update.map((i) => plan.data[i]) },
      update.length,
      (k) => spiffeIdOf(update[k]),
      (code) => code === OK,
    )),
    ...(await batch(
      plan.commands.delete,
      { ids: remove },
      remove.length,
      (k) => {
        const e = /** @type {any} */ (onServer.get(remove[k]));
        return `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`;
      },
      (code) => code === OK || code === NOT_FOUND,
    )),
  ];
  if (failures.length > 0) {
    throw new Error(`${failures.length} of the set's entries failed:\n  ${failures.join("\n  ")}`);
  }
  return {
    entryIds: [...wanted].sort(),
    created: create.length,
    updated: update.length,
    deleted: remove.length,
    unchanged,
  };
}

async function deleteAll(/** @type {any} */ plan) {
  const output = /** @type {any} */ (
    await runDelete(plan.delete, plan.deleteWithoutServer === true, JSON.stringify({ ids: plan.ids }))
  );
  if (output === undefined) return { entryIds: [], outcome: "server gone" };
  const failures = (output.results ?? [])
    .filter((/** @type {any} */ r) => ![OK, NOT_FOUND].includes(Number(r.status?.code)))
    .map((/** @type {any} */ r) => `${r.id}: ${r.status?.message}`);
  if (failures.length > 0) throw new Error(`entry delete failed for:\n  ${failures.join("\n  ")}`);
  return { entryIds: [], deleted: plan.ids.length };
}

async function main() {
  const plan = JSON.parse(process.argv[2] ?? "{}");
  if (!["create", "update", "delete"].includes(plan.step))
    throw new Error(`unknown step ${JSON.stringify(plan.step)}`);
  const outcome =
    plan.step === "delete" ? await deleteAll(plan) : await converge(plan, plan.step === "update");
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().catch((e) => {
  process.stderr.write(`spire-entry-set: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
});
