#!/usr/bin/env node
// @ts-check
/**
 * npm run drift -- --stack <name> [--repair]
 *
 * Compares the registration entries a stack declares (its SpireEntry and SpireEntrySet commands, read from
 * `pulumi stack export --show-secrets`, run in the current directory: the Pulumi project) with what each of its
 * SPIRE servers holds, in every field, and prints the missing, changed and unexpected entries (those under the
 * stack's entry ID prefix that it does not declare). Each server is asked through the exec prefix and cluster
 * access of the stack's own entry commands.
 *
 * --repair then puts the stack's view back through the same runners and plans as `pulumi up`: each drifted
 * resource's update step (bin/spire-entry.js, bin/spire-entry-set.js, with the command's own environment), and
 * the set runner's delete step for the unexpected entries; then checks again. The state is not changed, so a
 * `pulumi preview` afterwards still shows no changes.
 *
 * Exit status: 0 no drift (after --repair: none left), 1 drift, 2 the check could not run. What the stack declares:
 * spire/declaredEntries.ts; what to compare and how to print it: spire/drift.ts (their build, in dist/spire/).
 */

const { spawn, spawnSync } = require("node:child_process");
const path = require("node:path");
const { builtSpireModule } = require("./lib/built");
const { run } = require("./lib/serverCli");

/** @type {typeof import("../spire/declaredEntries")} */
const { stackView } = builtSpireModule("declaredEntries");
/** @type {typeof import("../spire/drift")} */
const { classifyDrift, formatDrift, hasDrift, repairCalls, serverName } = builtSpireModule("drift");
/** @type {typeof import("../spire/entryDiff")} */
const { shownEntry } = builtSpireModule("entryDiff");

const USAGE = "usage: npm run drift -- --stack <name> [--repair]";

function parseArgs(/** @type {string[]} */ argv) {
  /** @type {{ stack?: string, repair: boolean }} */
  const args = { repair: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--repair") args.repair = true;
    else if (argv[i] === "--stack" && argv[i + 1] !== undefined) args.stack = argv[++i];
    else throw new Error(`unknown argument ${JSON.stringify(argv[i])}; ${USAGE}`);
  }
  if (!args.stack) throw new Error(`--stack is required; ${USAGE}`);
  return args;
}

/** The stack's state with its secrets revealed (the commands' environment): kept in memory, never written. */
function exportedState(/** @type {string} */ stack) {
  const r = spawnSync(
    "pulumi",
    ["stack", "export", "--stack", stack, "--show-secrets", "--non-interactive"],
    {
      encoding: "utf8",
      maxBuffer: 1024 * 1024 * 1024,
    },
  );
  if (r.error) throw new Error(`could not start pulumi: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`pulumi stack export --stack ${stack} exited ${r.status}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/** Each server's entries against what the stack declares there, index for index with view.servers. */
async function check(/** @type {import("../spire/declaredEntries").StackView} */ view) {
  const drifts = [];
  for (const server of view.servers) {
    /** @type {any} */
    let shown;
    try {
      shown = await run(server.show, undefined, { ...process.env, ...server.server.access });
    } catch (e) {
      throw new Error(
        `entry show on ${serverName(server.server)} failed: ${/** @type {Error} */ (e).message}`,
      );
    }
    const declared = server.resources.flatMap((r) => r.entries.map((entry) => ({ entry, label: r.label })));
    drifts.push(classifyDrift((shown.entries ?? []).map(shownEntry), declared, view.prefix));
  }
  return drifts;
}

/** Starts a runner as the command provider does: its argument, the plan on stdin, the command's environment. */
function runRunner(/** @type {import("../spire/declaredEntries").RunnerCall} */ call) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, call.runner), call.argument], {
      env: { ...process.env, ...call.environment },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.stdin.on("error", () => {
      // A runner that fails before reading its stdin reports why on stderr.
    });
    child.stdin.end(call.stdin ?? "");
    child.on("error", reject);
    child.on("close", (status) =>
      status === 0 ? resolve(stdout.trim()) : reject(new Error(stderr.trim() || `exited ${status}`)),
    );
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const view = stackView(exportedState(/** @type {string} */ (args.stack)));
  if (view.servers.length === 0) {
    throw new Error(
      `the state of ${view.project}/${view.stack} holds no SpireEntry or SpireEntrySet: nothing to compare (another stack?)`,
    );
  }
  const drifts = await check(view);
  process.stdout.write(`${formatDrift(view, drifts).join("\n")}\n`);
  if (!drifts.some(hasDrift)) return 0;
  if (!args.repair) return 1;
  for (const { what, call } of repairCalls(view, drifts)) {
    process.stdout.write(`repair: ${what}\n`);
    try {
      process.stdout.write(`  ${await runRunner(call)}\n`);
    } catch (e) {
      process.stdout.write(`  failed: ${/** @type {Error} */ (e).message}\n`);
    }
  }
  const after = await check(view);
  process.stdout.write(`after the repair:\n${formatDrift(view, after).join("\n")}\n`);
  return after.some(hasDrift) ? 1 : 0;
}

main().then(
  (status) => process.exit(status),
  (e) => {
    process.stderr.write(`spire-drift: ${/** @type {Error} */ (e).message}\n`);
    process.exit(2);
  },
);
