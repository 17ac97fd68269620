#!/usr/bin/env node
// @ts-check
/**
 * Runs one lifecycle step of a SpireEntrySet: many entries in a handful of batch calls, each with the entries as
 * JSON on stdin. The command's single argument is the step and the plan's SHA-256; the plan itself, built by
 * spire/entrySet.ts, comes on stdin (an argument of that size would pass Linux's 128 KiB limit) and must match
 * that hash, so a provider that drops stdin fails here instead of converging on nothing.
 *
 *   create, update: converge the server on the plan. One `entry show` says what is there; spire/entryDiff.ts
 *     says what differs; then one `entry create` for the entries missing, one `entry update` for those that
 *     differ in any field (those our entries never set included), and (update only) one `entry delete` for
 *     the entries the previous run registered (its stdout, PULUMI_COMMAND_STDOUT) that the plan no longer has.
 *     Entries already right are left alone. A partial failure leaves the server where the
 *     next run converges from it, since every run starts from what the server shows.
 *   delete: one `entry delete` of every entry; absent ones count as deleted; with deleteWithoutServer, so does
 *     a server whose pod or namespace is gone.
 *
 * Fails naming each entry that failed, by SPIFFE ID, with the fields it differed in. Stdout: the registered
 * entry IDs, what was done, and which fields the updated entries differed in; nothing else in it grows with the
 * set, since the next run gets it as an environment variable.
 * Processes and Kubernetes access: lib/serverCli.js. What to create, update and remove: spire/entryDiff.ts
 * (its build, dist/spire/entryDiff.js).
 */

const { createHash } = require("node:crypto");
const fs = require("node:fs");
const { builtSpireModule } = require("./lib/built");
const { NOT_FOUND, OK, run, runDelete } = require("./lib/serverCli");

/** @type {typeof import("../spire/entryDiff")} */
const { declaredEntry, diffEntries, shownEntry } = builtSpireModule("entryDiff");

/** How many updated entries the output names per differing field; the rest are counted. */
const NAMED_PER_FIELD = 10;

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
  /** @type {any} */
  let output;
  try {
    output = await run(argv, JSON.stringify(stdin));
  } catch (e) {
    const named = Array.from({ length: Math.min(count, 3) }, (_, i) => label(i)).join(", ");
    const more = count > 3 ? ` and ${count - 3} more` : "";
    throw new Error(
      `the call for ${count} entries (${named}${more}) failed: ${/** @type {Error} */ (e).message}`,
    );
  }
  const results = output.results ?? [];
  const failures = [];
  for (let i = 0; i < count; i++) {
    const status = results[i]?.status ?? { code: -1, message: "no result" };
    if (!ok(Number(status.code))) failures.push(`${label(i)}: ${status.message} (code ${status.code})`);
  }
  return failures;
}

/**
 * Which entries differed in which field, by SPIFFE ID: at most NAMED_PER_FIELD named per field, so the output
 * stays small however many entries an update touched.
 * @param {{ spiffeId: string, fields: string[] }[]} updated
 */
function differedFields(updated) {
  /** @type {Record<string, { count: number, entries: string[] }>} */
  const byField = {};
  for (const { spiffeId, fields } of updated) {
    for (const field of fields) {
      byField[field] ??= { count: 0, entries: [] };
      const f = byField[field];
      f.count++;
      if (f.entries.length < NAMED_PER_FIELD) f.entries.push(spiffeId);
    }
  }
  return byField;
}

async function converge(/** @type {any} */ plan, /** @type {boolean} */ removePrevious) {
  const shown = /** @type {any[]} */ ((await run(plan.commands.show)).entries ?? []).map(shownEntry);
  const diff = diffEntries(shown, plan.expect.map(declaredEntry), removePrevious ? previousIds() : []);
  const { create, update, remove } = diff;
  // The batch calls take the plan's registration JSON (plan.data), index for index with plan.expect.
  const indexOf = new Map(plan.expect.map((/** @type {any} */ e, /** @type {number} */ i) => [e.entryId, i]));
  const dataOf = (/** @type {{ entryId: string }} */ e) => plan.data[indexOf.get(e.entryId)];
  const failures = [
    // AlreadyExists here means a similar entry under another ID, registered outside this set.
    ...(await batch(
      plan.commands.create,
      { entries: create.map(dataOf) },
      create.length,
      (k) => create[k].spiffeId,
      (code) => code === OK,
    )),
    ...(await batch(
      plan.commands.update,
      { entries: update.map((u) => dataOf(u.entry)) },
      update.length,
      (k) => `${update[k].entry.spiffeId} (differing in ${update[k].fields.join(", ")})`,
      (code) => code === OK,
    )),
    ...(await batch(
      plan.commands.delete,
      { ids: remove.map((e) => e.entryId) },
      remove.length,
      (k) => remove[k].spiffeId,
      (code) => code === OK || code === NOT_FOUND,
    )),
  ];
  if (failures.length > 0) {
    throw new Error(`${failures.length} of the set's entries failed:\n  ${failures.join("\n  ")}`);
  }
  return {
    entryIds: [...indexOf.keys()].sort(),
    created: create.length,
    updated: update.length,
    deleted: remove.length,
    unchanged: diff.unchanged.length,
    differed: differedFields(update.map((u) => ({ spiffeId: u.entry.spiffeId, fields: u.fields }))),
  };
}

async function deleteAll(/** @type {any} */ plan) {
  // A state written before plans moved to stdin holds the delete's argv and IDs in its argument.
  const argv = plan.commands?.delete ?? plan.delete;
  const ids = plan.ids ?? plan.expect.map((/** @type {any} */ e) => e.entryId);
  const output = /** @type {any} */ (
    await runDelete(argv, plan.deleteWithoutServer === true, JSON.stringify({ ids }))
  );
  if (output === undefined) return { entryIds: [], outcome: "server gone" };
  const failures = (output.results ?? [])
    .filter((/** @type {any} */ r) => ![OK, NOT_FOUND].includes(Number(r.status?.code)))
    .map((/** @type {any} */ r) => `${r.id}: ${r.status?.message}`);
  if (failures.length > 0) throw new Error(`entry delete failed for:\n  ${failures.join("\n  ")}`);
  return { entryIds: [], deleted: ids.length };
}

/**
 * The step from argv and the plan from stdin, checked against the hash argv names. An argument without a hash
 * is a whole plan, as states written before plans moved to stdin hold them: only their delete still runs.
 */
function readPlan() {
  const step = JSON.parse(process.argv[2] ?? "{}");
  if (!["create", "update", "delete"].includes(step.step))
    throw new Error(`unknown step ${JSON.stringify(step.step)}`);
  if (step.planSha256 === undefined) {
    if (step.step !== "delete")
      throw new Error("the plan must come on stdin, with its planSha256 in the argument");
    return step;
  }
  const text = fs.readFileSync(0, "utf8");
  const got = createHash("sha256").update(text).digest("hex");
  if (got !== step.planSha256) {
    throw new Error(
      `the plan on stdin (${Buffer.byteLength(text)} bytes, SHA-256 ${got}) is not the one this step names ` +
        `(SHA-256 ${step.planSha256}): the command provider must pass the command's stdin input`,
    );
  }
  return { ...JSON.parse(text), step: step.step };
}

async function main() {
  const plan = readPlan();
  const outcome =
    plan.step === "delete" ? await deleteAll(plan) : await converge(plan, plan.step === "update");
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
}

main().catch((e) => {
  process.stderr.write(`spire-entry-set: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
});
