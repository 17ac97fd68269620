/**
 * The real Pulumi CLI 3.276.0 (scripts/install-pulumi.sh) against a file backend, offline: its own PULUMI_HOME,
 * no update checks, no plugin downloads, the Kubernetes provider and the stand-in command plugin from PATH.
 *
 * Stack config is a copy of the project's Pulumi.<stack>.yaml kept in the work directory and passed with
 * `--config-file`, so `stack init` (which writes an encryption salt) and `config set` never touch the
 * repository's files.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "..");
export const PULUMI_BIN_DIR = path.join(REPO_ROOT, ".cache", "pulumi", "bin");
const KUBERNETES_BIN_DIR = path.join(REPO_ROOT, ".cache", "kubernetes", "bin");
const COMMAND_PLUGIN_DIR = path.join(REPO_ROOT, "local", "plugins");
/** Test stacks only: the passphrase protects secrets in a throwaway state directory. */
const PASSPHRASE = "spire-mesh-loopback";

export interface PulumiStack {
  readonly projectDir: string;
  readonly stack: string;
  readonly configFile: string;
  readonly env: NodeJS.ProcessEnv;
}

export interface PulumiResult {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function pulumiBinary(): string {
  const bin = path.join(PULUMI_BIN_DIR, "pulumi");
  for (const name of ["pulumi", "pulumi-language-nodejs", "pulumi-resource-kubernetes"]) {
    if (!fs.existsSync(path.join(PULUMI_BIN_DIR, name))) {
      throw new Error(
        `${name} not found in ${PULUMI_BIN_DIR}: run bash scripts/install-pulumi.sh (or npm run setup)`,
      );
    }
  }
  return bin;
}

/** The environment every command of a stack in `workDir` runs with. */
export function pulumiEnv(workDir: string, kubeconfig: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: [
      PULUMI_BIN_DIR,
      COMMAND_PLUGIN_DIR,
      KUBERNETES_BIN_DIR,
      path.dirname(process.execPath),
      process.env.PATH,
    ].join(":"),
    PULUMI_HOME: path.join(workDir, "home"),
    PULUMI_BACKEND_URL: `file://${path.join(workDir, "state")}`,
    PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    KUBECONFIG: kubeconfig,
  };
}

/**
 * Creates `stack` of the project in `projectDir` under `workDir` (state, home, config), from the project's own
 * Pulumi.<stack>.yaml when it has one; `configFrom` names another file to start from.
 */
export function initStack(options: {
  projectDir: string;
  stack: string;
  workDir: string;
  kubeconfig: string;
  configFrom?: string;
}): PulumiStack {
  const projectDir = path.resolve(options.projectDir);
  const configDir = path.join(options.workDir, "config", path.basename(projectDir));
  fs.mkdirSync(path.join(options.workDir, "state"), { recursive: true });
  fs.mkdirSync(configDir, { recursive: true });
  const configFile = path.join(configDir, `Pulumi.${options.stack}.yaml`);
  const source = options.configFrom ?? path.join(projectDir, `Pulumi.${options.stack}.yaml`);
  // An existing copy is kept: it holds the stack's salt and any `config set` made since.
  if (!fs.existsSync(configFile)) {
    fs.writeFileSync(configFile, fs.existsSync(source) ? fs.readFileSync(source) : "config: {}\n");
  }
  // `stack init` writes the stack's encryption salt into Pulumi.<stack>.yaml of the directory it runs in: run it
  // in the config directory, next to a copy of Pulumi.yaml.
  fs.copyFileSync(path.join(projectDir, "Pulumi.yaml"), path.join(configDir, "Pulumi.yaml"));
  const env = pulumiEnv(options.workDir, options.kubeconfig);
  const stack: PulumiStack = { projectDir, stack: options.stack, configFile, env };
  const run = (args: string[]) => spawnSync(pulumiBinary(), args, { cwd: configDir, env, encoding: "utf8" });
  const listed = run(["stack", "ls", "--json", "--non-interactive"]);
  if (listed.status !== 0) throw new Error(`pulumi stack ls failed: ${listed.stderr.trim()}`);
  if (!(JSON.parse(listed.stdout) as { name: string }[]).some((s) => s.name === options.stack)) {
    const init = run(["stack", "init", options.stack, "--non-interactive"]);
    if (init.status !== 0)
      throw new Error(`pulumi stack init ${options.stack} failed: ${init.stderr.trim()}`);
  }
  return stack;
}

/** Subcommands that take the stack config file. */
const takesConfigFile = new Set(["up", "preview", "destroy", "refresh", "import", "config"]);

/** argv of a pulumi command on the stack (stack and config file filled in). */
export function pulumiArgs(stack: PulumiStack, args: readonly string[]): string[] {
  return [
    ...args,
    "--stack",
    stack.stack,
    "--non-interactive",
    ...(takesConfigFile.has(args[0]) ? ["--config-file", stack.configFile] : []),
  ];
}

/** Runs a pulumi command on the stack and collects its output; never throws on a non-zero exit. */
export function pulumi(
  stack: PulumiStack,
  args: readonly string[],
  options: {
    timeoutMs?: number;
    onSpawn?: (pid: number) => void;
    /** Each chunk of stdout and stderr as it arrives. */
    onOutput?: (text: string) => void;
    echo?: boolean;
  } = {},
): Promise<PulumiResult> {
  return new Promise((resolve, reject) => {
    // Its own process group: when the CLI is killed, its language host and plugins (which outlive it) go too.
    const child = spawn(pulumiBinary(), pulumiArgs(stack, args), {
      cwd: stack.projectDir,
      env: stack.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const live = child.pid !== undefined ? { stack, pid: child.pid } : undefined;
    if (live) running.add(live);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      options.onOutput?.(String(d));
      if (options.echo) process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      options.onOutput?.(String(d));
      if (options.echo) process.stderr.write(d);
    });
    const timer = setTimeout(
      () => child.pid !== undefined && killTree(child.pid),
      options.timeoutMs ?? 300_000,
    );
    child.on("error", reject);
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      if (live) running.delete(live);
      if (signal && child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is already gone
        }
      }
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Every process's children, from one pass over /proc (field 4 of /proc/<pid>/stat is the parent). */
function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
  }
  return children;
}

/** The PIDs of a process's descendants, read while they are still its descendants. */
export function descendantsOf(pid: number): number[] {
  const children = childrenByParent();
  const found: number[] = [];
  for (let queue = [pid]; queue.length > 0; ) {
    const next = children.get(queue.shift() as number) ?? [];
    found.push(...next);
    queue.push(...next);
  }
  return found;
}

/** The command line of a process, its arguments joined by spaces; "" once it has ended. */
export function commandLineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

const signal = (pid: number, name: NodeJS.Signals) => {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
};

/**
 * SIGKILLs a CLI with everything it started, as a killed CI runner would: Pulumi starts its language host and
 * plugins in process groups of their own, so killing the CLI's group alone leaves them running, orphaned. The
 * tree is frozen (SIGSTOP) first and killed once no member is left to find: the CLI can write no checkpoint and
 * a plugin can start no process after the moment the caller chose, however long the walk takes on a busy host.
 */
export function killTree(pid: number): void {
  const frozen = new Set<number>();
  for (let found = [pid]; found.length > 0; ) {
    for (const p of found) {
      signal(p, "SIGSTOP");
      frozen.add(p);
    }
    found = descendantsOf(pid).filter((p) => !frozen.has(p));
  }
  for (const p of frozen) signal(p, "SIGKILL");
}

/** Every CLI this module started that is still running, for the stack given. */
const running = new Set<{ stack: PulumiStack; pid: number }>();

/** Kills the CLIs still running on `stack` (a test that timed out leaves its `up` behind); returns how many. */
export function killRunning(stack: PulumiStack): number {
  const mine = [...running].filter((r) => r.stack === stack);
  for (const r of mine) killTree(r.pid);
  return mine.length;
}

/** The file backend's directory of a stack (PULUMI_BACKEND_URL is file://<dir>). */
const backendDir = (stack: PulumiStack) => (stack.env.PULUMI_BACKEND_URL as string).replace(/^file:\/\//, "");

const projectName = (stack: PulumiStack) => {
  const name = /^name:\s*(\S+)/m.exec(
    fs.readFileSync(path.join(stack.projectDir, "Pulumi.yaml"), "utf8"),
  )?.[1];
  if (!name) throw new Error(`no project name in ${stack.projectDir}/Pulumi.yaml`);
  return name;
};

/** The stack's checkpoint file, which the engine rewrites as an update goes. */
export const checkpointFile = (stack: PulumiStack) =>
  path.join(backendDir(stack), ".pulumi", "stacks", projectName(stack), `${stack.stack}.json`);

/**
 * The update locks the file backend holds on the stack (one per running, or killed, update), from
 * .pulumi/locks/<organization>/<project>/<stack>/ (the organization level is "organization" for a file backend).
 */
export function stackLocks(stack: PulumiStack): string[] {
  const root = path.join(backendDir(stack), ".pulumi", "locks");
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { recursive: true, encoding: "utf8" })
    .map((f) => path.join(root, f))
    .filter(
      (f) =>
        path.dirname(f).endsWith(`/${projectName(stack)}/${stack.stack}`) &&
        f.endsWith(".json") && // not the storage layer's .attrs files beside each lock
        fs.statSync(f).isFile(),
    );
}

/** Like pulumi(), but a non-zero exit is an error carrying the command's output. */
export async function pulumiOk(
  stack: PulumiStack,
  args: readonly string[],
  options: { timeoutMs?: number; echo?: boolean } = {},
): Promise<PulumiResult> {
  const r = await pulumi(stack, args, options);
  if (r.status !== 0) {
    const output = options.echo ? "" : `:\n${r.stdout}\n${r.stderr}`;
    throw new Error(`pulumi ${args.join(" ")} exited ${r.status ?? r.signal}${output}`);
  }
  return r;
}

/**
 * The recovery Pulumi documents for an update interrupted without a chance to clean up (a killed CLI or CI
 * runner) on a self-managed backend: remove the stale lock (`pulumi cancel`), then drop the pending create
 * operations from the state after refreshing (`pulumi refresh --clear-pending-creates`). The next `up` then
 * creates what was pending again; our entry commands converge on an entry that already exists. Returns the
 * commands it ran.
 */
export async function recoverInterruptedUpdate(stack: PulumiStack): Promise<string[]> {
  const steps = [
    ["cancel", "--yes"],
    ["refresh", "--yes", "--clear-pending-creates"],
  ];
  for (const step of steps) await pulumiOk(stack, step);
  return steps.map((s) => `pulumi ${s.join(" ")}`);
}
