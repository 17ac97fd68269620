#!/usr/bin/env node
// @ts-check
/**
 * Runs one lifecycle step of a SpireEntry. @pulumi/command hands us the step as a JSON plan (its single
 * argument); every process is started from an argv list, never through a shell, because the SPIRE images have
 * no shell and entry values must not be re-parsed. The plan is built by spire/entries.ts.
 *
 *   create: entry create; on AlreadyExists, compare `entry show` with the plan and `entry update` if it differs.
 *   update: entry update; if the entry vanished out of band, create it again.
 *   delete: entry delete; an entry that is already gone counts as deleted; with deleteWithoutServer, so does an
 *           entry whose server pod or namespace is gone.
 *
 * Kubernetes access comes from the environment, never argv: KUBECONFIG (a path) or SPIRE_MESH_KUBECONFIG (the
 * contents, served through a FIFO so they are never written to disk), and SPIRE_MESH_KUBE_CONTEXT for a context.
 */

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const OK = 0;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/**
 * Hands `content` to one reader through a FIFO in a private directory: the kubeconfig reaches kubectl as a file
 * path without its bytes ever being written to disk (kubectl reads it once, as with `--kubeconfig <(...)`).
 */
async function serveThroughFifo(
  /** @type {string} */ content,
  /** @type {(path: string) => Promise<any>} */ use,
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spire-entry-"));
  const fifo = path.join(dir, "kubeconfig");
  try {
    const made = spawnSync("mkfifo", ["-m", "600", fifo], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr || made.error?.message}`);
    // Opening for write blocks until the reader opens the other end.
    const written = new Promise((resolve) => {
      const writer = fs.createWriteStream(fifo);
      writer.on("error", resolve);
      writer.end(content, resolve);
    });
    try {
      return await use(fifo);
    } finally {
      // A reader that never came (kubectl failed early) would leave the writer blocked: open the read end.
      const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      await written;
      fs.closeSync(reader);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts argv; resolves to parsed JSON stdout, rejects with stderr when the process fails. */
function spawnJson(/** @type {readonly string[]} */ argv, /** @type {string | undefined} */ kubeconfigPath) {
  const [file, ...args] = argv;
  const env = { ...process.env };
  delete env.SPIRE_MESH_KUBECONFIG;
  delete env.SPIRE_MESH_KUBE_CONTEXT;
  if (kubeconfigPath !== undefined) env.KUBECONFIG = kubeconfigPath;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", (e) => reject(new Error(`could not start ${file}: ${e.message}`)));
    child.on("close", (status) => {
      if (status !== 0) {
        const err = new Error(`${argv.join(" ")} exited ${status}: ${stderr.trim()}`);
        /** @type {any} */ (err).stderr = stderr;
        reject(err);
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`${file} printed no JSON: ${stdout.slice(0, 200)}`));
      }
    });
  });
}

/** Runs argv, handing kubectl an in-memory kubeconfig when there is one. */
function spawnWithKubeconfig(
  /** @type {readonly string[]} */ argv,
  /** @type {string | undefined} */ kubeconfig,
) {
  if (kubeconfig === undefined) return spawnJson(argv, undefined);
  return serveThroughFifo(kubeconfig, (fifo) => spawnJson(argv, fifo));
}

/**
 * The kubeconfig kubectl gets: SPIRE_MESH_KUBECONFIG (contents) or KUBECONFIG as given; with
 * SPIRE_MESH_KUBE_CONTEXT, the same config flattened with that context made current, so the context is chosen
 * without putting it into any argv.
 */
async function kubeconfigFor(/** @type {string} */ kubectl) {
  const inline = process.env.SPIRE_MESH_KUBECONFIG;
  const context = process.env.SPIRE_MESH_KUBE_CONTEXT;
  if (!context) return inline;
  const config = /** @type {any} */ (
    await spawnWithKubeconfig([kubectl, "config", "view", "--raw", "--flatten", "-o", "json"], inline)
  );
  if (!(config.contexts ?? []).some((/** @type {any} */ c) => c.name === context)) {
    throw new Error(`kubeconfig has no context ${JSON.stringify(context)}`);
  }
  return JSON.stringify({ ...config, "current-context": context });
}

/** Runs one step's argv; kubectl gets the kubeconfig from the environment as described above. */
async function run(/** @type {readonly string[]} */ argv) {
  const kubeconfig = argv[0]?.endsWith("kubectl") ? await kubeconfigFor(argv[0]) : undefined;
  return spawnWithKubeconfig(argv, kubeconfig);
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

/** @returns {Promise<string>} the outcome */
async function createStep(/** @type {any} */ plan) {
  const created = statusOf(await run(plan.create));
  if (created.code === OK) return "created";
  if (created.code !== ALREADY_EXISTS) throw new Error(`entry create failed: ${created.message}`);
  const existing = await show(plan);
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
  const updated = statusOf(await run(plan.update));
  if (updated.code !== OK) throw new Error(`entry update of a differing entry failed: ${updated.message}`);
  return "updated";
}

async function updateStep(/** @type {any} */ plan) {
  const updated = statusOf(await run(plan.update));
  if (updated.code === OK) return "updated";
  if (updated.code === NOT_FOUND) return createStep(plan);
  throw new Error(`entry update failed: ${updated.message}`);
}

/** kubectl's answer when the server pod, or its whole namespace, no longer exists. */
const SERVER_GONE = /Error from server \(NotFound\): (pods|namespaces) "[^"]+" not found/;

async function deleteStep(/** @type {any} */ plan) {
  let output;
  try {
    output = await run(plan.delete);
  } catch (e) {
    // Opt-in: the entry went with its server. Without the opt-in a missing pod stays an error (wrong cluster?).
    if (plan.deleteWithoutServer && SERVER_GONE.test(String(/** @type {any} */ (e).stderr ?? ""))) {
      return "server gone";
    }
    throw e;
  }
  const deleted = statusOf(output);
  if (deleted.code === OK) return "deleted";
  if (deleted.code === NOT_FOUND) return "already absent";
  throw new Error(`entry delete failed: ${deleted.message}`);
}

async function main() {
  const plan = JSON.parse(process.argv[2] ?? "{}");
  const steps = { create: createStep, update: updateStep, delete: deleteStep };
  const step = steps[/** @type {keyof typeof steps} */ (plan.step)];
  if (!step) throw new Error(`unknown step ${JSON.stringify(plan.step)}`);
  const outcome = await step(plan);
  process.stdout.write(`${JSON.stringify({ entryId: plan.entryId, outcome })}\n`);
}

main().catch((e) => {
  process.stderr.write(`spire-entry: ${/** @type {Error} */ (e).message}\n`);
  process.exit(1);
});
