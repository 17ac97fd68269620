/**
 * A real SPIRE 1.13.3 server and agent on loopback, for tests. The configuration comes from the same builders
 * we deploy (spire/config.ts); only the platform is local: join_token node attestation, the unix workload
 * attestor, a disk key manager for the agent (a restarted agent keeps its SVID), temp-dir paths, free ports.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { type AgentPlatform, renderAgentConf, renderServerConf, type ServerPlatform } from "../spire/config";
import { block, plugin } from "../spire/hcl";
import { type SpireInstallationArgs, type SpireSettings, spireSettings } from "../spire/settings";
import { track } from "./processes";

const REPO_ROOT = path.resolve(__dirname, "..");
export const SPIRE_BIN_DIR = path.join(REPO_ROOT, ".cache", "spire", "bin");
/** The walkthrough's trust domain, so rendered plans run unchanged against the harness. */
export const HARNESS_TRUST_DOMAIN = "howto-k8s-mtls-sds-based.aws";
const HEALTH_TIMEOUT_MS = 30_000;
/** Linux sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface StartOptions {
  /** SPIFFE ID for `token generate -spiffeID`: the server then holds one alias entry for the agent. */
  readonly agentAlias?: string;
  /** SpireInstallation arguments; the trust domain defaults to the walkthrough's. */
  readonly settings?: Partial<SpireInstallationArgs>;
  /** uid in `workloadSelector`; default this process's uid (the uid `spire-agent api fetch` runs as). */
  readonly workloadUid?: number;
}

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** An entry as `entry show -output json` prints it (the fields tests read). */
export interface ShownEntry {
  readonly id: string;
  readonly spiffe_id: { readonly trust_domain: string; readonly path: string };
  readonly parent_id: { readonly trust_domain: string; readonly path: string };
  readonly selectors: readonly { readonly type: string; readonly value: string }[];
  readonly x509_svid_ttl: number;
  readonly revision_number: string;
  readonly dns_names: readonly string[];
}

export interface X509Fetch {
  readonly spiffeIds: readonly string[];
  readonly svidPaths: readonly string[];
  readonly bundlePath: string;
}

export interface SpireHarness {
  readonly settings: SpireSettings;
  readonly trustDomain: string;
  readonly dataDir: string;
  readonly serverSocket: string;
  readonly agentSocket: string;
  readonly serverBin: string;
  readonly agentBin: string;
  /** The agent's own ID, `spiffe://<td>/spire/agent/join_token/<token>`; a parent for workload entries. */
  readonly agentId: string;
  /** A selector that matches processes this test runs (`unix:uid:<uid>`). */
  readonly workloadSelector: string;
  /** `spire-server <args>` with `-socketPath` inserted after the subcommand. */
  server(args: readonly string[]): CliResult;
  entries(): ShownEntry[];
  fetchX509(timeoutMs?: number): Promise<X509Fetch>;
  killServer(): Promise<void>;
  restartServer(): Promise<void>;
  restartAgent(): Promise<void>;
  stop(): Promise<void>;
}

export function spireBinary(name: "spire-server" | "spire-agent", binDir = SPIRE_BIN_DIR): string {
  const bin = path.join(binDir, name);
  if (!fs.existsSync(bin)) throw new Error(`${name} not found at ${bin}: run bash scripts/install-spire.sh`);
  return bin;
}

/** A port nothing listens on right now (SPIRE rejects port 0, so we pick one). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, "close");
  return port;
}

const run = (file: string, args: readonly string[], timeout = 20_000): CliResult => {
  const r = spawnSync(file, args, { encoding: "utf8", timeout });
  if (r.error) throw new Error(`could not run ${file}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** Inserts `-socketPath` after the subcommand words (`entry show`, `healthcheck`, ...). */
export function withSocket(args: readonly string[], socketPath: string): string[] {
  let i = 0;
  while (i < args.length && !args[i].startsWith("-")) i++;
  return [...args.slice(0, i), "-socketPath", socketPath, ...args.slice(i)];
}

function tail(file: string, lines = 40): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

class Daemon {
  private child?: ChildProcess;

  constructor(
    readonly name: string,
    private readonly bin: string,
    readonly logFile: string,
  ) {}

  start(args: readonly string[]): void {
    // Logs go straight to a file: no pipe can fill up and stall SPIRE, and the file survives for error messages.
    const log = fs.openSync(this.logFile, "a");
    try {
      this.child = track(spawn(this.bin, args, { stdio: ["ignore", log, log] }));
    } finally {
      fs.closeSync(log);
    }
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get exitDescription(): string {
    return `exit code ${this.child?.exitCode}, signal ${this.child?.signalCode}`;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = once(child, "exit");
    child.kill(signal);
    await exited;
  }
}

/** Polls a `healthcheck` until it passes; fails early if the daemon died, with the log tail either way. */
async function waitHealthy(
  daemon: Daemon,
  check: () => CliResult,
  timeoutMs = HEALTH_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: CliResult | undefined;
  while (Date.now() < deadline) {
    if (!daemon.running) {
      throw new Error(
        `${daemon.name} exited (${daemon.exitDescription}) before it was healthy; log tail:\n${tail(daemon.logFile)}`,
      );
    }
    last = check();
    if (last.status === 0) return;
    await delay(200);
  }
  throw new Error(
    `${daemon.name} not healthy after ${timeoutMs} ms (last healthcheck: ${(last?.stderr || last?.stdout || "").trim()}); ` +
      `log tail:\n${tail(daemon.logFile)}`,
  );
}

let fetchCount = 0;

/**
 * Polls `spire-agent api fetch x509` until the agent hands this process an SVID. New entries take ~5-10 s to
 * reach the agent (server cache reload + agent sync), so "no identity issued" is retried with backoff.
 */
export async function fetchX509(
  agentSocket: string,
  timeoutMs = 30_000,
  writeDir?: string,
): Promise<X509Fetch> {
  const agentBin = spireBinary("spire-agent");
  // Default next to the harness's sockets, so stop() removes it with everything else.
  const dir = writeDir ?? path.join(path.dirname(path.dirname(agentSocket)), `x509-${++fetchCount}`);
  fs.mkdirSync(dir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let wait = 250;
  let last: CliResult | undefined;
  while (Date.now() < deadline) {
    last = run(agentBin, ["api", "fetch", "x509", "-socketPath", agentSocket, "-write", dir]);
    if (last.status === 0) {
      const spiffeIds = [...last.stdout.matchAll(/^SPIFFE ID:\s+(\S+)/gm)].map((m) => m[1]);
      const svidPaths = fs
        .readdirSync(dir)
        .filter((f) => /^svid\.\d+\.pem$/.test(f))
        .sort()
        .map((f) => path.join(dir, f));
      return { spiffeIds, svidPaths, bundlePath: path.join(dir, "bundle.0.pem") };
    }
    await delay(wait);
    wait = Math.min(wait * 2, 2000);
  }
  throw new Error(
    `no X509-SVID from ${agentSocket} within ${timeoutMs} ms: ${(last?.stderr || last?.stdout || "").trim()}`,
  );
}

export async function startSpire(options: StartOptions = {}): Promise<SpireHarness> {
  const serverBin = spireBinary("spire-server");
  const agentBin = spireBinary("spire-agent");
  const settings = spireSettings({ trustDomain: HARNESS_TRUST_DOMAIN, ...options.settings });
  // A short directory: both sockets live under it and must fit in sun_path.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-"));
  const serverSocket = path.join(dir, "s", "api.sock");
  const agentSocket = path.join(dir, "a", "api.sock");
  if (agentSocket.length > MAX_SOCKET_PATH) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`temp dir ${dir} is too long for a Unix socket path; set TMPDIR to a shorter directory`);
  }
  const [serverPort, serverHealthPort, agentHealthPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];

  const serverPlatform: ServerPlatform = {
    bindAddress: "127.0.0.1",
    bindPort: serverPort,
    dataDir: path.join(dir, "server-data"),
    socketPath: serverSocket,
    healthBindAddress: "127.0.0.1",
    healthPort: serverHealthPort,
    nodeAttestors: [plugin("NodeAttestor", "join_token")],
    notifiers: [],
    // Several agents attesting from 127.0.0.1 in quick succession would otherwise be throttled (1/s per IP).
    extraServer: [block("ratelimit", [], [["attestation", false]])],
  };
  const agentData = path.join(dir, "agent-data");
  const bundleFile = path.join(dir, "bundle.pem");
  const agentPlatform: AgentPlatform = {
    serverAddress: "127.0.0.1",
    serverPort,
    dataDir: agentData,
    socketPath: agentSocket,
    trustBundlePath: bundleFile,
    healthBindAddress: "127.0.0.1",
    healthPort: agentHealthPort,
    nodeAttestor: plugin("NodeAttestor", "join_token"),
    keyManager: plugin("KeyManager", "disk", [["directory", agentData]]),
    workloadAttestors: [plugin("WorkloadAttestor", "unix")],
  };
  const serverConf = path.join(dir, "server.conf");
  const agentConf = path.join(dir, "agent.conf");
  fs.writeFileSync(serverConf, renderServerConf(settings, serverPlatform));
  fs.writeFileSync(agentConf, renderAgentConf(settings, agentPlatform));

  const server = new Daemon("spire-server", serverBin, path.join(dir, "server.log"));
  const agent = new Daemon("spire-agent", agentBin, path.join(dir, "agent.log"));
  const cli = (args: readonly string[]) => run(serverBin, withSocket(args, serverSocket));
  const mustSucceed = (args: readonly string[]): string => {
    const r = cli(args);
    if (r.status !== 0)
      throw new Error(`spire-server ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
    return r.stdout;
  };

  const startServer = async () => {
    server.start(["run", "-config", serverConf]);
    await waitHealthy(server, () => cli(["healthcheck"]));
  };
  const startAgent = async (joinToken?: string) => {
    agent.start(["run", "-config", agentConf, ...(joinToken ? ["-joinToken", joinToken] : [])]);
    await waitHealthy(agent, () => run(agentBin, ["healthcheck", "-socketPath", agentSocket]));
  };
  const stop = async () => {
    await Promise.all([agent.kill(), server.kill()]);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    await startServer();
    fs.writeFileSync(bundleFile, mustSucceed(["bundle", "show"]));
    const tokenArgs = [
      "token",
      "generate",
      "-output",
      "json",
      ...(options.agentAlias ? ["-spiffeID", options.agentAlias] : []),
    ];
    const token = (JSON.parse(mustSucceed(tokenArgs)) as { value: string }).value;
    await startAgent(token);
    const uid = options.workloadUid ?? process.getuid?.() ?? 0;
    return {
      settings,
      trustDomain: settings.trustDomain,
      dataDir: dir,
      serverSocket,
      agentSocket,
      serverBin,
      agentBin,
      agentId: `spiffe://${settings.trustDomain}/spire/agent/join_token/${token}`,
      workloadSelector: `unix:uid:${uid}`,
      server: cli,
      entries: () =>
        (JSON.parse(mustSucceed(["entry", "show", "-output", "json"])) as { entries: ShownEntry[] }).entries,
      fetchX509: (timeoutMs?: number) => fetchX509(agentSocket, timeoutMs),
      killServer: () => server.kill("SIGKILL"),
      restartServer: async () => {
        await server.kill("SIGTERM");
        await startServer();
      },
      // The token was single-use; the agent comes back on the SVID its disk key manager kept.
      restartAgent: async () => {
        await agent.kill("SIGTERM");
        await startAgent();
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
