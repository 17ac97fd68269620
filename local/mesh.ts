/**
 * The rendered mesh on loopback: the real apps, each behind a TLS sidecar running its rendered bootstrap, and
 * gateways (Envoy alone: the same sidecar with no app), each under a uid of its own so the SPIRE agent attests
 * workloads apart (`unix:uid:<n>` standing in for the k8s selectors). Services become local addresses; pod
 * hostAliases become a DNS preload for the app.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RenderResult } from "../render/runtime";
import { isKubernetesObject, kubernetesObject } from "../render/write";
import { entryCommands, entryPlans, type ResolvedEntry } from "../spire/entries";
import { adminGet, newAdminSocketPath } from "./adminSocket";
import { freePort } from "./ports";
import { track } from "./processes";
import type { Placement } from "./sidecar";
import type { SpireHarness } from "./spireHarness";
import { PROPAGATION_MS, waitUntil } from "./waitUntil";

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked as plain JSON.
type Json = any;

const REPO = path.resolve(__dirname, "..");
const RUNNER = path.join(REPO, "bin", "spire-entry.js");
const FIRST_UID = 20001;

/** A counter from a sidecar's `/stats` text, 0 when absent (Envoy omits counters it never touched). */
export const statValue = (stats: string, name: string): number =>
  Number(new RegExp(`^${name.replace(/[.]/g, "\\.")}: (\\d+)$`, "m").exec(stats)?.[1] ?? 0);

export interface LocalWorkload {
  readonly name: string;
  readonly identity: string;
  readonly uid: number;
  readonly bootstrap: Json;
  readonly placement: Placement;
  /** None for a gateway. */
  readonly appPort?: number;
}

export interface LocalMesh {
  readonly workloads: Readonly<Record<string, LocalWorkload>>;
  /** `http://127.0.0.1:<port>` of a workload's mesh ingress (what its Service targets). */
  ingressUrl(workload: string): string;
  /** GET on a sidecar's admin interface (`/stats`, `/certs`, `/clusters`), over its Unix socket. */
  admin(workload: string, adminPath: string): Promise<string>;
  /**
   * Replaces a workload's sidecar with one running another render's bootstrap, under the same uid and ports:
   * what a rollout after `pulumi up` does. Resolves once the new one started (its admin answers).
   */
  rollOut(workload: string, bootstrap: Json): Promise<void>;
  /**
   * Resolves once the workload's own sidecar reports LIVE on its admin /ready: every secret it subscribes to
   * was delivered over SDS and its listeners are open. Fails early if the sidecar exited.
   */
  whenLive(workload: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function objects(render: RenderResult): Json[] {
  return render.resources.filter(isKubernetesObject).map(kubernetesObject);
}

/** Until `child` prints `line`; a loaded machine takes long to start node with ts-node, hence the bound. */
export async function waitForLine(
  label: string,
  child: ChildProcess,
  line: RegExp,
  timeoutMs = PROPAGATION_MS,
): Promise<void> {
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${label} not ready in ${timeoutMs} ms:\n${output}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      output += d;
      if (line.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (d) => {
      output += d;
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited ${code}:\n${output}`));
    });
  });
}

/** The Envoy bootstrap a render's Deployment mounts (its `envoy-bootstrap` ConfigMap's bootstrap.json). */
export function renderedBootstrap(render: RenderResult, deployment: string): Json {
  const all = objects(render);
  const d = all.find((o) => o.kind === "Deployment" && o.metadata.name === deployment);
  const volume = d?.spec.template.spec.volumes.find((v: Json) => v.name === "envoy-bootstrap");
  const configMap = all.find((o) => o.kind === "ConfigMap" && o.metadata.name === volume?.configMap.name);
  if (!configMap) throw new Error(`the render has no Envoy bootstrap for Deployment ${deployment}`);
  return JSON.parse(configMap.data["bootstrap.json"]);
}

const appContainer = (deployment: Json): Json | undefined =>
  deployment.spec.template.spec.containers.find((c: Json) => c.name === "app");

/** A loopback address of this run's own, so egress listeners never collide with anything else on 127.0.0.1. */
const privateLoopback = (i: number) =>
  `127.${100 + (process.pid % 100)}.${Math.floor(Math.random() * 250) + 1}.${i + 2}`;

/**
 * Runs the render's mesh on loopback. Requires root: each sidecar runs under its own uid, which is how the local
 * unix attestor distinguishes workloads.
 */
export async function startLocalMesh(
  spire: SpireHarness,
  render: RenderResult,
  /** Backends outside this render (another cluster's service): rendered `host:port` -> local `ip:port`. */
  externalEndpoints: Readonly<Record<string, string>> = {},
): Promise<LocalMesh> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the local mesh runs each sidecar under its own uid so SPIRE can attest workloads apart: run it as root",
    );
  }
  // Sidecars under other uids must reach the agent socket; the directory is traversable, not listable.
  fs.chmodSync(spire.dataDir, 0o711);
  const all = objects(render);
  const deployments = all.filter(
    (o) =>
      o.kind === "Deployment" &&
      [...(o.spec.template.spec.initContainers ?? []), ...o.spec.template.spec.containers].some(
        (c: Json) => c.name === "envoy",
      ),
  );
  const services = all.filter((o) => o.kind === "Service" && o.spec.selector);
  const byName = new Map<string, LocalWorkload>();

  for (const [i, d] of deployments.entries()) {
    const name = d.metadata.name as string;
    const uid = FIRST_UID + i;
    const bootstrap = renderedBootstrap(render, name);
    const egress: Record<string, string> = {};
    for (const [j, l] of bootstrap.static_resources.listeners.entries()) {
      if (l.name.startsWith("lds_egress_"))
        egress[l.name] = `${privateLoopback(j)}:${l.address.socket_address.port_value}`;
    }
    // A gateway's pod runs Envoy alone: no app behind it.
    const appPort = appContainer(d) ? await freePort() : undefined;
    const placement: Placement = {
      agentSocket: spire.agentSocket,
      ingressPort: await freePort(),
      ...(appPort ? { app: `127.0.0.1:${appPort}` } : {}),
      readinessPort: await freePort(),
      // In a directory of the sidecar's uid, as the pod's admin volume is the Envoy container's alone.
      adminSocket: newAdminSocketPath(uid),
      egress,
      endpoints: {},
    };
    const certName = bootstrap.static_resources.clusters
      .concat(bootstrap.static_resources.listeners.flatMap((l: Json) => l.filter_chains))
      .map(
        (x: Json) =>
          x.transport_socket?.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name,
      )
      .find((n: string | undefined) => n);
    byName.set(name, { name, identity: certName, uid, bootstrap, placement, appPort });
  }
  // Services: a backend cluster's `service:port` is that service's workload's mesh ingress.
  const endpointsOf = (bootstrap: Json) => {
    const endpoints: Record<string, string> = { ...externalEndpoints };
    for (const c of bootstrap.static_resources.clusters.filter((x: Json) => x.transport_socket)) {
      const address = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      const service = services.find(
        (s) => `${s.metadata.name}.${s.metadata.namespace}.svc.cluster.local` === address.address,
      );
      // A backend outside this render (another cluster's) keeps its external endpoint; an empty selector
      // would match every deployment.
      if (!service) continue;
      const target = deployments.find((d) =>
        Object.entries(service.spec.selector ?? {}).every(
          ([k, v]) => d.spec.template.metadata.labels[k] === v,
        ),
      );
      const targetWorkload = target && byName.get(target.metadata.name);
      if (targetWorkload) {
        endpoints[`${address.address}:${address.port_value}`] =
          `127.0.0.1:${targetWorkload.placement.ingressPort}`;
      }
    }
    return endpoints;
  };
  for (const [name, w] of byName) {
    byName.set(name, { ...w, placement: { ...w.placement, endpoints: endpointsOf(w.bootstrap) } });
  }

  const children: ChildProcess[] = [];
  const sidecars = new Map<string, ChildProcess>();
  const startApp = async (w: LocalWorkload, d: Json) => {
    const pod = d.spec.template.spec;
    const app = appContainer(d);
    const env: Record<string, string> = Object.fromEntries(app.env.map((e: Json) => [e.name, e.value]));
    env.PORT = String(w.appPort);
    // hostAliases point a backend's name at the sidecar's egress listener: here its private loopback address.
    const aliases: Record<string, string> = {};
    for (const alias of pod.hostAliases ?? []) {
      const listener = Object.entries(w.placement.egress).find(([name]) => name.includes(`_${alias.ip}_`));
      for (const host of alias.hostnames) if (listener) aliases[host] = listener[1].split(":")[0];
    }
    const file = path.join(REPO, "app", app.command[1].replace("/app/", ""));
    const child = track(
      spawn(process.execPath, ["--require", path.join(__dirname, "hostAliases.js"), file], {
        env: { ...process.env, ...env, HOST_ALIASES: JSON.stringify(aliases) },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    children.push(child);
    await waitForLine(`app ${w.name}`, child, /running server|listening/i);
  };
  const startSidecar = async (w: LocalWorkload) => {
    const child = track(
      spawn(
        process.execPath,
        [
          "--require",
          require.resolve("ts-node/register/transpile-only"),
          path.join(__dirname, "sidecarMain.ts"),
          JSON.stringify({ bootstrap: w.bootstrap, placement: w.placement }),
        ],
        {
          uid: w.uid,
          gid: w.uid,
          cwd: REPO,
          env: { ...process.env, HOME: "/tmp" },
          stdio: ["ignore", "pipe", "pipe"],
        },
      ),
    );
    children.push(child);
    sidecars.set(w.name, child);
    // Not LIVE: a workload without an entry (green) never gets its secrets, as Envoy never leaves initializing.
    await waitForLine(`sidecar ${w.name}`, child, /SIDECAR STARTED/);
  };
  for (const d of deployments) {
    if (appContainer(d)) await startApp(byName.get(d.metadata.name) as LocalWorkload, d);
  }
  await Promise.all([...byName.values()].map(startSidecar));

  const admin = async (name: string, adminPath: string) => {
    const w = byName.get(name);
    if (!w) throw new Error(`no workload ${name} in the local mesh`);
    return (await adminGet(w.placement.adminSocket, adminPath)).body;
  };
  return {
    workloads: Object.fromEntries(byName),
    ingressUrl: (name) => `http://127.0.0.1:${byName.get(name)?.placement.ingressPort}`,
    admin,
    whenLive: async (name, timeoutMs) => {
      const sidecar = sidecars.get(name);
      if (!sidecar) throw new Error(`no workload ${name} in the local mesh`);
      await waitUntil(
        `${name}'s sidecar LIVE (its SVID and bundle delivered, its listeners open)`,
        () => admin(name, "/ready"),
        (ready) => ready === "LIVE\n",
        {
          timeoutMs,
          hopeless: () => {
            const child = sidecars.get(name);
            const ended = child && (child.exitCode ?? child.signalCode);
            return ended === null || ended === undefined ? undefined : `its sidecar exited (${ended})`;
          },
        },
      );
    },
    rollOut: async (name, bootstrap) => {
      const w = byName.get(name);
      const old = sidecars.get(name);
      if (!w || !old) throw new Error(`no workload ${name} in the local mesh`);
      if (old.exitCode === null) {
        const exited = new Promise((resolve) => old.once("exit", resolve));
        old.kill("SIGKILL");
        await exited;
      }
      const next = { ...w, bootstrap, placement: { ...w.placement, endpoints: endpointsOf(bootstrap) } };
      byName.set(name, next);
      await startSidecar(next);
    },
    stop: async () => {
      for (const child of children) child.kill("SIGKILL");
      for (const w of byName.values()) {
        fs.rmSync(path.dirname(w.placement.adminSocket), { recursive: true, force: true });
      }
    },
  };
}

/**
 * Registers a render's workload entries for the local mesh through the same entry code as SpireEntry (plans run
 * by bin/spire-entry.js); only the selectors change, to the uid of the workload whose sidecar asks for that ID.
 * The k8s_psat node entry is left out: the harness agent holds the same alias through its join token.
 */
export function registerLocally(
  spire: SpireHarness,
  render: RenderResult,
  mesh: LocalMesh,
  only?: (identity: string) => boolean,
): string[] {
  const uidOf = new Map(Object.values(mesh.workloads).map((w) => [w.identity, w.uid]));
  const registered: string[] = [];
  for (const command of render.resources.filter((x) => x.type === "command:local:Command")) {
    const entry = JSON.parse((command.inputs as { create: string }).create).expect as
      | ResolvedEntry
      | undefined;
    // Only entry commands carry an expected entry (federation's bundle commands do not).
    if (!entry) continue;
    const uid = uidOf.get(entry.spiffeId);
    if (uid === undefined || (only && !only(entry.spiffeId))) continue;
    const local: ResolvedEntry = { ...entry, selectors: [{ type: "unix", value: `uid:${uid}` }] };
    const { create } = entryPlans(entryCommands([spire.serverBin], local, spire.serverSocket), local);
    const result = spawnSync(process.execPath, [RUNNER, create], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`registering ${entry.spiffeId}: ${result.stderr}`);
    registered.push(entry.spiffeId);
  }
  return registered;
}
