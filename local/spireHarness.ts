/**
 * A real SPIRE 1.13.3 server and agent on loopback, for tests. The configuration comes from the same builders
 * we deploy (spire/config.ts); only the platform is local: join_token node attestation, the unix workload
 * attestor, a disk key manager for the agent (a restarted agent keeps its SVID), temp-dir paths, free ports.
 * Given `renderedServerConf`, the server runs a rendered server.conf instead, with that same platform swapped in
 * (loopbackServerConf.ts).
 * With `servers` > 1 (HA on a shared PostgreSQL) the servers sit behind a loopback stand-in for their Service,
 * and more agents can be pinned to one server each.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import {
  type AgentPlatform,
  DATASTORE_ENV,
  renderAgentConf,
  renderServerConf,
  type ServerPlatform,
} from "../spire/config";
import { block, plugin } from "../spire/hcl";
import type { SpireInstallationArgs } from "../spire/installationArgs";
import { type SpireSettings, spireSettings } from "../spire/settings";
import { loopbackServerConf, type RenderedServerConf } from "./loopbackServerConf";
import { type LoopbackService, startLoopbackService } from "./loopbackService";

import { freePort } from "./ports";
import { track } from "./processes";
import { PROPAGATION_MS } from "./waitUntil";

const REPO_ROOT = path.resolve(__dirname, "..");
export const SPIRE_BIN_DIR = path.join(REPO_ROOT, ".cache", "spire", "bin");
/** The walkthrough's trust domain, so rendered plans run unchanged against the harness. */
export const HARNESS_TRUST_DOMAIN = "howto-k8s-mtls-sds-based.aws";
/** Linux sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface StartOptions {
  /** SPIFFE ID for `token generate -spiffeID`: the server then holds one alias entry for the agent. */
  readonly agentAlias?: string;
  /** SpireInstallation arguments; the trust domain defaults to the walkthrough's. */
  readonly settings?: Partial<SpireInstallationArgs>;
  /** uid in `workloadSelector`; default this process's uid (the uid `spire-agent api fetch` runs as). */
  readonly workloadUid?: number;
  /** How many servers; more than one needs `settings.datastore` postgres. Default 1. */
  readonly servers?: number;
  /** The PostgreSQL connection string, handed to every server in its environment (the config reads it). */
  readonly connectionString?: string;
  /** Directory with the disk upstream authority's tls.crt and tls.key (settings.upstreamAuthority disk). */
  readonly upstreamCaDir?: string;
  /**
   * Run this rendered server.conf (as the stack's ConfigMap holds it) rather than one built from `settings`,
   * which then only describe the agent and must name the same trust domain. One server only.
   */
  readonly renderedServerConf?: RenderedServerConf;
}

/** One spire-server process of the harness. */
export interface HarnessServer {
  readonly index: number;
  readonly socket: string;
  readonly port: number;
  readonly healthPort: number;
  /** Its Prometheus port, when settings.telemetry is on. */
  readonly telemetryPort?: number;
  readonly logFile: string;
  readonly running: boolean;
  cli(args: readonly string[]): CliResult;
  entries(): ShownEntry[];
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
}

/** One spire-agent process of the harness. */
export interface HarnessAgent {
  readonly socket: string;
  readonly id: string;
  readonly healthPort: number;
  readonly telemetryPort?: number;
  readonly logFile: string;
  fetchX509(timeoutMs?: number): Promise<X509Fetch>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the SVID its disk key manager kept. */
  restart(): Promise<void>;
}

export interface AgentOptions {
  /** Talk to this server directly instead of through the Service stand-in. */
  readonly server?: number;
  /** SPIFFE ID alias its join token grants (as StartOptions.agentAlias). */
  readonly alias?: string;
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
  readonly servers: readonly HarnessServer[];
  readonly agents: readonly HarnessAgent[];
  /** servers > 1: the loopback stand-in for the server Service that the first agent talks to. */
  readonly service?: LoopbackService;
  /** Starts one more agent (another node), attested with a join token of its own. */
  addAgent(options?: AgentOptions): Promise<HarnessAgent>;
}

export function spireBinary(name: "spire-server" | "spire-agent", binDir = SPIRE_BIN_DIR): string {
  const bin = path.join(binDir, name);
  if (!fs.existsSync(bin)) throw new Error(`${name} not found at ${bin}: run bash scripts/install-spire.sh`);
  return bin;
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

  start(args: readonly string[], env?: Readonly<Record<string, string>>): void {
    // Logs go straight to a file: no pipe can fill up and stall SPIRE, and the file survives for error messages.
    const log = fs.openSync(this.logFile, "a");
    try {
      this.child = track(
        spawn(this.bin, args, {
          stdio: ["ignore", log, log],
          env: env ? { ...process.env, ...env } : undefined,
        }),
      );
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
  timeoutMs = PROPAGATION_MS,
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
 * reach the agent (server cache reload + agent sync) on an idle machine, so "no identity issued" is retried with
 * backoff, up to the propagation bound of a loaded one.
 */
export async function fetchX509(
  agentSocket: string,
  timeoutMs = PROPAGATION_MS,
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
  const serverCount = options.servers ?? 1;
  const postgres = settings.datastore.type === "postgres";
  if (postgres !== (options.connectionString !== undefined))
    throw new Error("startSpire: a postgres datastore and a connectionString go together");
  if (serverCount > 1 && !postgres) throw new Error("startSpire: several servers need a postgres datastore");
  if (serverCount > 1 && options.renderedServerConf)
    throw new Error("startSpire: a rendered server.conf has one bundle endpoint port, so it runs one server");
  // A short directory: every socket lives under it and must fit in sun_path.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-"));
  const socketIn = (name: string) => path.join(dir, name, "api.sock");
  if (socketIn("a9").length > MAX_SOCKET_PATH) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`temp dir ${dir} is too long for a Unix socket path; set TMPDIR to a shorter directory`);
  }
  // Server 0 and agent 0 keep the names the single-server harness always had.
  const suffix = (i: number) => (i === 0 ? "" : `-${i}`);
  const serverEnv = postgres ? { [DATASTORE_ENV]: options.connectionString as string } : undefined;
  const servers: (HarnessServer & { daemon: Daemon; conf: string })[] = [];
  for (let i = 0; i < serverCount; i++) {
    const [port, healthPort] = [await freePort(), await freePort()];
    const telemetryPort = settings.telemetry ? await freePort() : undefined;
    const socket = socketIn(i === 0 ? "s" : `s${i}`);
    const platform: ServerPlatform = {
      bindAddress: "127.0.0.1",
      bindPort: port,
      dataDir: path.join(dir, `server-data${suffix(i)}`),
      socketPath: socket,
      healthBindAddress: "127.0.0.1",
      healthPort,
      nodeAttestors: [plugin("NodeAttestor", "join_token")],
      notifiers: [],
      // Several agents attesting from 127.0.0.1 in quick succession would otherwise be throttled (1/s per IP).
      extraServer: [block("ratelimit", [], [["attestation", false]])],
      upstreamCaDir: options.upstreamCaDir ?? path.join(dir, "upstream"),
      // Federation: the port is the settings' (a test picks free ones, so peers know each other's URL first).
      bundleEndpointAddress: "127.0.0.1",
      telemetryHost: "127.0.0.1",
      telemetryPort,
    };
    const conf = path.join(dir, `server${suffix(i)}.conf`);
    fs.writeFileSync(
      conf,
      options.renderedServerConf
        ? await loopbackServerConf(options.renderedServerConf, settings.trustDomain, platform)
        : renderServerConf(settings, platform),
    );
    const daemon = new Daemon(
      `spire-server${suffix(i)}`,
      serverBin,
      path.join(dir, `server${suffix(i)}.log`),
    );
    const cli = (args: readonly string[]) => run(serverBin, withSocket(args, socket));
    const server = {
      index: i,
      socket,
      port,
      healthPort,
      telemetryPort,
      logFile: daemon.logFile,
      daemon,
      conf,
      get running() {
        return daemon.running;
      },
      cli,
      entries: () =>
        (JSON.parse(mustSucceed(cli, ["entry", "show", "-output", "json"])) as { entries: ShownEntry[] })
          .entries,
      kill: (signal: NodeJS.Signals = "SIGKILL") => daemon.kill(signal),
      start: async () => {
        // -expandEnv, as the pods run it: the connection string comes from the environment, not the file.
        daemon.start(["run", "-config", conf, ...(postgres ? ["-expandEnv"] : [])], serverEnv);
        await waitHealthy(daemon, () => cli(["healthcheck"]));
      },
    };
    servers.push(server);
  }
  const service = serverCount > 1 ? await startLoopbackService(servers.map((x) => x.port)) : undefined;
  const agents: (HarnessAgent & { daemon: Daemon })[] = [];
  const bundleFile = path.join(dir, "bundle.pem");
  const primary = servers[0];

  const addAgent = async (agentOptions: AgentOptions = {}) => {
    const i = agents.length;
    const socket = socketIn(i === 0 ? "a" : `a${i}`);
    const dataDir = path.join(dir, `agent-data${suffix(i)}`);
    const healthPort = await freePort();
    const telemetryPort = settings.telemetry ? await freePort() : undefined;
    const target = agentOptions.server === undefined ? undefined : servers[agentOptions.server];
    const platform: AgentPlatform = {
      serverAddress: "127.0.0.1",
      serverPort: target?.port ?? service?.port ?? primary.port,
      dataDir,
      socketPath: socket,
      trustBundlePath: bundleFile,
      healthBindAddress: "127.0.0.1",
      healthPort,
      nodeAttestor: plugin("NodeAttestor", "join_token"),
      keyManager: plugin("KeyManager", "disk", [["directory", dataDir]]),
      workloadAttestors: [plugin("WorkloadAttestor", "unix")],
      telemetryHost: "127.0.0.1",
      telemetryPort,
    };
    const conf = path.join(dir, `agent${suffix(i)}.conf`);
    fs.writeFileSync(conf, renderAgentConf(settings, platform));
    const daemon = new Daemon(`spire-agent${suffix(i)}`, agentBin, path.join(dir, `agent${suffix(i)}.log`));
    const tokenArgs = [
      "token",
      "generate",
      "-output",
      "json",
      ...(agentOptions.alias ? ["-spiffeID", agentOptions.alias] : []),
    ];
    const token = (JSON.parse(mustSucceed((target ?? primary).cli, tokenArgs)) as { value: string }).value;
    const start = async (joinToken?: string) => {
      daemon.start(["run", "-config", conf, ...(joinToken ? ["-joinToken", joinToken] : [])]);
      await waitHealthy(daemon, () => run(agentBin, ["healthcheck", "-socketPath", socket]));
    };
    await start(token);
    const agent = {
      socket,
      id: `spiffe://${settings.trustDomain}/spire/agent/join_token/${token}`,
      healthPort,
      telemetryPort,
      logFile: daemon.logFile,
      daemon,
      fetchX509: (timeoutMs?: number) => fetchX509(socket, timeoutMs),
      kill: (signal: NodeJS.Signals = "SIGKILL") => daemon.kill(signal),
      // The token was single-use; the agent comes back on the SVID its disk key manager kept.
      restart: async () => {
        await daemon.kill("SIGTERM");
        await start();
      },
    };
    agents.push(agent);
    return agent;
  };

  const stop = async () => {
    await Promise.all(agents.map((a) => a.daemon.kill()));
    await Promise.all(servers.map((x) => x.daemon.kill()));
    await service?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    // One at a time, as the StatefulSet's OrderedReady starts them: on an empty database, servers started
    // together race SPIRE's schema migration.
    for (const server of servers) await server.start();
    // After every server is up, from the last one: without an upstream CA each server appends its own root to the
    // shared bundle as it starts (the earlier ones serve a cached copy for a few seconds), and agents trust all.
    fs.writeFileSync(bundleFile, mustSucceed(servers[servers.length - 1].cli, ["bundle", "show"]));
    const agent = await addAgent({ alias: options.agentAlias });
    const uid = options.workloadUid ?? process.getuid?.() ?? 0;
    return {
      settings,
      trustDomain: settings.trustDomain,
      dataDir: dir,
      serverSocket: primary.socket,
      agentSocket: agent.socket,
      serverBin,
      agentBin,
      agentId: agent.id,
      workloadSelector: `unix:uid:${uid}`,
      server: primary.cli,
      entries: primary.entries,
      fetchX509: (timeoutMs?: number) => fetchX509(agent.socket, timeoutMs),
      killServer: () => primary.kill("SIGKILL"),
      restartServer: async () => {
        await primary.kill("SIGTERM");
        await primary.start();
      },
      restartAgent: agent.restart,
      stop,
      servers,
      agents,
      service,
      addAgent,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function mustSucceed(cli: (args: readonly string[]) => CliResult, args: readonly string[]): string {
  const r = cli(args);
  if (r.status !== 0)
    throw new Error(`spire-server ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}
