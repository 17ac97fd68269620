#!/usr/bin/env node
// @ts-check
/**
 * Runs one lifecycle step of a SpireEntry. @pulumi/command hands us the step as a JSON plan (its single
 * argument); every process is started from an argv list, never through a shell, because the SPIRE images have
 * no shell and entry values must not be re-parsed. The plan is built by spire/entries.ts.
 *
 *   create: entry create; on AlreadyExists, compare `entry show` with the plan and `entry update` if it differs
 *           in any field, those our entries never set included (spire/entryDiff.ts): the outcome names them.
 *   update: entry update; if the entry vanished out of band, create it again.
 *   delete: entry delete; an entry that is already gone counts as deleted; with deleteWithoutServer, so does an
 *           entry whose server pod or namespace is gone.
 *
 * Processes and Kubernetes access: lib/serverCli.js. The comparison: spire/entryDiff.ts (its build in dist/).
 */

const { builtSpireModule } = require("./lib/built");
const { ALREADY_EXISTS, NOT_FOUND, OK, run, runDelete } = require("./lib/serverCli");

/** @type {typeof import("../spire/entryDiff")} */
const { declaredEntry, outdatedFields, shownEntry } = builtSpireModule("entryDiff");

/** The status of the single result of a create/update/delete call. */
function statusOf(/** @type {any} */ output) {
  const status = output?.results?.[0]?.status ?? {};
  return { code: Number(status.code ?? OK), message: String(status.message ?? "") };
}

async function show(/** @type {any} */ plan) {
  try {
    return (await run(plan.show)).entries?.[0];
  } catch (e) {
    // Only the server's own NotFound for the entry; a kubectl "pod not found" must stay an error.
    if (/code = NotFound desc = entry not found/.test(String(/** @type {any} */ (e).stderr ?? e)))
      return undefined;
    throw e;
  }
}

/** @returns {Promise<{ outcome: string, differed?: string[] }>} */
async function createStep(/** @type {any} */ plan) {
  const created = statusOf(await run(plan.create));
  if (created.code === OK) return { outcome: "created" };
  if (created.code !== ALREADY_EXISTS) throw new Error(`entry create failed: ${created.message}`);
  const existing = await show(plan);
  if (!existing) {
    throw new Error(
      `entry create: ${created.message}, but not under ID ${plan.expect.entryId}: an entry with the same parent, ` +
        "SPIFFE ID and selectors was created outside this stack; delete it (spire-server entry delete) and retry",
    );
  }
  const differed = outdatedFields(shownEntry(existing), declaredEntry(plan.expect));
  if (differed.length === 0) return { outcome: "unchanged" };
  const updated = statusOf(await run(plan.update));
  if (updated.code !== OK) {
    throw new Error(
      `entry update of an entry differing in ${differed.join(", ")} failed: ${updated.message}`,
    );
  }
  return { outcome: "updated", differed };
}

async function updateStep(/** @type {any} */ plan) {
  const updated = statusOf(await run(plan.update));
  if (updated.code === OK) return { outcome: "updated" };
  if (updated.code === NOT_FOUND) return createStep(plan);
  throw new Error(`entry update failed: ${updated.message}`);
}

async function deleteStep(/** @type {any} */ plan) {
  const output = await runDelete(plan.delete, plan.deleteWithoutServer === true);
  if (output === undefined) return { outcome: "server gone" };
  const deleted = statusOf(output);
  if (deleted.code === OK) return { outcome: "deleted" };
  if (deleted.code === NOT_FOUND) return { outcome: "already absent" };
  throw new Error(`entry delete failed: ${deleted.message}`);
}

/** @type {any} */
let plan = {};

async function main() {
  plan = JSON.parse(process.argv[2] ?? "{}");
  const steps = { create: createStep, update: updateStep, delete: deleteStep };
  const step = steps[/** @type {keyof typeof steps} */ (plan.step)];
  if (!step) throw new Error(`unknown step ${JSON.stringify(plan.step)}`);
  const result = await step(plan);
  process.stdout.write(`${JSON.stringify({ entryId: plan.entryId, ...result })}\n`);
}

main().catch((e) => {
  const entry = plan.expect?.spiffeId ? `${plan.entryId} (${plan.expect.spiffeId})` : plan.entryId;
  process.stderr.write(
    `spire-entry ${entry ?? ""}: ${plan.step ?? ""} failed: ${/** @type {Error} */ (e).message}\n`,
  );
  process.exit(1);
});
