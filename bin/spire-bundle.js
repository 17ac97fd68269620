#!/usr/bin/env node
// @ts-check
/**
 * Runs one lifecycle step of SpireInstallation's federation commands. The plan (the single argument) is built
 * by spire/bundles.ts; every process is started from an argv list, never a shell.
 *
 *   show:   `bundle show -format spiffe`; prints this server's bundle (public keys and certificates) as the
 *           command's stdout, which the installation exports for its peers.
 *   set:    a bootstrap. `bundle list` first: when the server already holds the peer's bundle and it is at least
 *           as new as the snapshot (lib/bundleFreshness.js), it is kept, since SPIRE refreshes it from the peer's
 *           endpoint. Otherwise `bundle set -format spiffe -id <peer>` with the snapshot on stdin (never a file
 *           or argument), after checking it holds no private key material and some root that has not expired;
 *           fails on any status but OK.
 *   delete: `bundle delete -id <peer>`; a bundle already gone counts as deleted; with deleteWithoutServer, so
 *           does a server whose pod or namespace is gone. SPIRE refuses while entries still federate with it.
 *
 * Processes and Kubernetes access: lib/serverCli.js.
 */

const { bootstrapDecision, heldBundle } = require("./lib/bundleFreshness");
const { builtSpireModule } = require("./lib/built");
const { NOT_FOUND, OK, run, runDelete } = require("./lib/serverCli");

/** @type {typeof import("../spire/publicBundle")} */
const { checkPublicBundle } = builtSpireModule("publicBundle");

/** The status of the single result of a set/delete call. */
function statusOf(/** @type {any} */ output) {
  const status = output?.results?.[0]?.status ?? {};
  return { code: Number(status.code ?? OK), message: String(status.message ?? "") };
}

async function showStep(/** @type {any} */ plan) {
  const bundle = JSON.stringify(await run(plan.show), null, 2);
  checkPublicBundle(bundle);
  return bundle;
}

async function setStep(/** @type {any} */ plan) {
  if (typeof plan.bundle !== "string" || plan.bundle.trim() === "") {
    throw new Error(
      `no bundle for ${plan.trustDomain}: its stack has not published one yet (run pulumi up there first)`,
    );
  }
  try {
    checkPublicBundle(plan.bundle);
  } catch (e) {
    throw new Error(`the bundle for ${plan.trustDomain} ${/** @type {Error} */ (e).message}`);
  }
  const held = heldBundle(await run(plan.list), plan.trustDomain);
  const decision = bootstrapDecision(plan.trustDomain, JSON.parse(plan.bundle), held);
  if (decision.action === "keep") {
    return JSON.stringify({ trustDomain: plan.trustDomain, outcome: "kept", reason: decision.reason });
  }
  const set = statusOf(await run(plan.set, plan.bundle));
  if (set.code !== OK) throw new Error(`bundle set for ${plan.trustDomain} failed: ${set.message}`);
  return JSON.stringify({ trustDomain: plan.trustDomain, outcome: "set", reason: decision.reason });
}

async function deleteStep(/** @type {any} */ plan) {
  const output = await runDelete(plan.delete, plan.deleteWithoutServer === true);
  const outcome =
    output === undefined
      ? "server gone"
      : statusOf(output).code === OK
        ? "deleted"
        : statusOf(output).code === NOT_FOUND
          ? "already absent"
          : undefined;
  if (!outcome) throw new Error(`bundle delete of ${plan.trustDomain} failed: ${statusOf(output).message}`);
  return JSON.stringify({ trustDomain: plan.trustDomain, outcome });
}

async function main() {
  const plan = JSON.parse(process.argv[2] ?? "{}");
  const steps = { show: showStep, set: setStep, delete: deleteStep };
  const step = steps[/** @type {keyof typeof steps} */ (plan.step)];
  if (!step) throw new Error(`unknown step ${JSON.stringify(plan.step)}`);
  process.stdout.write(`${await step(plan)}\n`);
}

main().catch((e) => {
  process.stderr.write(`spire-bundle: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
});
