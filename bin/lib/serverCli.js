// @ts-check
/**
 * Running the SPIRE server CLI for the entry runners, locally or through `kubectl exec`: every process from an
 * argv list, never a shell (the SPIRE images have no shell, and entry values must not be re-parsed).
 *
 * Kubernetes access comes from the environment, never argv: KUBECONFIG (a path) or SPIRE_MESH_KUBECONFIG (the
 * contents, served through a FIFO so they are never written to disk), and SPIRE_MESH_KUBE_CONTEXT for a context.
 *
 * Every call is bounded: one that has not finished after SPIRE_MESH_CLI_TIMEOUT_SECONDS (default 300) is killed
 * and fails, so a stuck `kubectl exec` fails `pulumi up` instead of hanging it.
 */

const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const OK = 0;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/** Generous for a batch of thousands of entries over `kubectl exec`; a call that takes longer is stuck. */
const DEFAULT_TIMEOUT_SECONDS = 300;
const TIMEOUT_VARIABLE = "SPIRE_MESH_CLI_TIMEOUT_SECONDS";

/** How long one CLI call may run, in milliseconds, from SPIRE_MESH_CLI_TIMEOUT_SECONDS. */
function timeoutMs(/** @type {NodeJS.ProcessEnv} */ environment) {
  const raw = environment[TIMEOUT_VARIABLE];
  if (raw === undefined || raw === "") return DEFAULT_TIMEOUT_SECONDS * 1000;
  const seconds = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(seconds > 0)) {
    throw new Error(`${TIMEOUT_VARIABLE} = ${JSON.stringify(raw)}: must be a positive number of seconds`);
  }
  return seconds * 1000;
}

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

/** Starts argv (stdin: optional input); resolves to parsed JSON stdout, rejects with stderr when it fails. */
function spawnJson(
  /** @type {readonly string[]} */ argv,
  /** @type {string | undefined} */ kubeconfigPath,
  /** @type {string | undefined} */ stdin,
  /** @type {NodeJS.ProcessEnv} */ environment,
) {
  const [file, ...args] = argv;
  const env = { ...environment };
  delete env.SPIRE_MESH_KUBECONFIG;
  delete env.SPIRE_MESH_KUBE_CONTEXT;
  if (kubeconfigPath !== undefined) env.KUBECONFIG = kubeconfigPath;
  const limit = timeoutMs(environment);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env,
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    /** @type {Error | undefined} */
    let inputLost;
    // A process that exits without reading its input (kubectl failing early) breaks the pipe: its exit status
    // and stderr say why, so keep the EPIPE from crashing the runner and report those instead.
    child.stdin?.on("error", (e) => {
      inputLost = e;
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, limit);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${file}: ${e.message}`));
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      if (timedOut) {
        const err = new Error(
          `${argv.join(" ")} did not finish within ${limit / 1000} s (${TIMEOUT_VARIABLE}) and was killed` +
            (stderr.trim() ? `; its stderr: ${stderr.trim()}` : ""),
        );
        /** @type {any} */ (err).stderr = stderr;
        reject(err);
        return;
      }
      if (status === 0 && inputLost) {
        reject(new Error(`${argv.join(" ")} exited 0 without reading its input (${inputLost.message})`));
        return;
      }
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
  /** @type {string | undefined} */ stdin,
  /** @type {NodeJS.ProcessEnv} */ environment,
) {
  if (kubeconfig === undefined) return spawnJson(argv, undefined, stdin, environment);
  return serveThroughFifo(kubeconfig, (fifo) => spawnJson(argv, fifo, stdin, environment));
}

/**
 * The kubeconfig kubectl gets: SPIRE_MESH_KUBECONFIG (contents) or KUBECONFIG as given; with
 * SPIRE_MESH_KUBE_CONTEXT, the same config flattened with that context made current, so the context is chosen
 * without putting it into any argv.
 */
async function kubeconfigFor(/** @type {string} */ kubectl, /** @type {NodeJS.ProcessEnv} */ environment) {
  const inline = environment.SPIRE_MESH_KUBECONFIG;
  const context = environment.SPIRE_MESH_KUBE_CONTEXT;
  if (!context) return inline;
  const config = /** @type {any} */ (
    await spawnWithKubeconfig(
      [kubectl, "config", "view", "--raw", "--flatten", "-o", "json"],
      inline,
      undefined,
      environment,
    )
  );
  if (!(config.contexts ?? []).some((/** @type {any} */ c) => c.name === context)) {
    throw new Error(`kubeconfig has no context ${JSON.stringify(context)}`);
  }
  return JSON.stringify({ ...config, "current-context": context });
}

/**
 * Runs one step's argv (stdin: JSON for a batch call); kubectl gets the kubeconfig from the environment: the
 * runner's own, or (the drift check, which reaches each server as its entry commands do) theirs.
 */
async function run(
  /** @type {readonly string[]} */ argv,
  /** @type {string | undefined} */ stdin,
  environment = process.env,
) {
  const kubeconfig = argv[0]?.endsWith("kubectl") ? await kubeconfigFor(argv[0], environment) : undefined;
  return spawnWithKubeconfig(argv, kubeconfig, stdin, environment);
}

/** kubectl's answer when the server pod, or its whole namespace, no longer exists. */
const SERVER_GONE = /Error from server \(NotFound\): (pods|namespaces) "[^"]+" not found/;

/** Runs a delete; with `withoutServer`, a server that is gone counts as done (returns undefined). */
async function runDelete(
  /** @type {readonly string[]} */ argv,
  /** @type {boolean} */ withoutServer,
  stdin = undefined,
) {
  try {
    return await run(argv, stdin);
  } catch (e) {
    // Opt-in: the entries went with their server. Without it a missing pod stays an error (wrong cluster?).
    if (withoutServer && SERVER_GONE.test(String(/** @type {any} */ (e).stderr ?? ""))) return undefined;
    throw e;
  }
}

module.exports = { OK, NOT_FOUND, ALREADY_EXISTS, run, runDelete };
