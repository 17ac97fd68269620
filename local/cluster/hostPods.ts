/**
 * A small kubelet for the one kind of pod a fake node cannot fake: the SPIRE server. For each pod of the SPIRE
 * server image on a kwok node it runs a real spire-server 1.13.3 on this host from the pod's own ConfigMap
 * (hostServerConfig.ts), with its volumes as host directories: a PersistentVolumeClaim is the directory of its
 * bound PersistentVolume, so data survives pod restarts and goes when the volume is deleted, as on a cluster.
 * The process runs as the pod's security context says (runAsUser, runAsGroup, fsGroup applied to its writable
 * volumes), its readOnly mounts read-only (podRuntime.ts). It reports the pod Ready only while the container's
 * own readiness probe passes against the real server, restarts a server that exits (restartCount counts it),
 * and stops it when the pod is deleted.
 *
 * Every server process is recorded in host-pods.json next to the cluster state, so cluster:down stops them even
 * when this controller was killed.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../ports";
import { binary, type ClusterState, SERVER_IMAGE_PATHS, SERVER_SOCKET_DIR_ENV } from "./cluster";
import { hostServerConf, podListenerPorts } from "./hostServerConfig";
import { KubeApi } from "./kubeApi";
import {
  applyFsGroup,
  confinedArgv,
  type ReadinessTarget,
  type RunAs,
  readinessTarget,
  runAsOf,
  traversable,
} from "./podRuntime";
import { isAlive, type RecordedProcess, startDaemon, stopDaemon } from "./processes";

export const SERVER_IMAGE = /(^|\/)spire-server([:@]|$)/;
/** The field manager of the pod status this kubelet writes: what tells its Ready from kwok's. */
export const HOST_KUBELET = "spire-mesh-host-kubelet";
const POLL_MS = 250;

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are read loosely.
type Pod = any;

interface HostServer {
  readonly uid: string;
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly image: string;
  readonly readiness: ReadinessTarget;
  /** The server's argv, confined as the pod's spec says; a restart runs it again. */
  readonly argv: readonly string[];
  /** Host directory of its admin socket, which `kubectl exec` into the pod sees as /tmp/spire-server/private. */
  readonly socketDir: string;
  process: RecordedProcess;
  ready: boolean;
  restarts: number;
  readonly startedAt: string;
}

export const hostPodsStatePath = (dir: string) => path.join(dir, "host-pods.json");

/** What host-pods.json records: the server processes, and each server pod's admin socket on this host. */
export interface HostPodsRecord {
  readonly processes: readonly RecordedProcess[];
  /** `namespace/pod` -> socket path. */
  readonly sockets: Readonly<Record<string, string>>;
}

export class HostPods {
  private readonly servers = new Map<string, HostServer>();
  private readonly api: KubeApi;
  private stopping = false;

  constructor(private readonly state: ClusterState) {
    this.api = KubeApi.fromKubeconfig(state.kubeconfig);
  }

  private log(line: string): void {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  }

  private persist(): void {
    const servers = [...this.servers.values()];
    const record: HostPodsRecord = {
      processes: servers.map((s) => s.process),
      sockets: Object.fromEntries(
        servers.map((s) => [`${s.namespace}/${s.pod}`, path.join(s.socketDir, "api.sock")]),
      ),
    };
    fs.writeFileSync(hostPodsStatePath(this.state.dir), `${JSON.stringify(record, null, 2)}\n`);
  }

  private podDir(uid: string): string {
    return path.join(this.state.dir, "host-pods", uid);
  }

  async run(): Promise<void> {
    let round = 0;
    while (!this.stopping) {
      try {
        await this.reconcile(round++ % 20 === 0);
      } catch (e) {
        this.log(`reconcile failed: ${(e as Error).message}`);
      }
      await delay(POLL_MS);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const server of this.servers.values()) await stopDaemon(server.process);
    this.servers.clear();
    this.persist();
    this.api.close();
  }

  private async reconcile(collectVolumes: boolean): Promise<void> {
    const pods = (await this.api.get("/api/v1/pods")).body.items as Pod[];
    const ours = pods.filter(
      (p) =>
        this.state.nodes.includes(p.spec.nodeName) &&
        p.spec.containers.some((c: { image: string }) => SERVER_IMAGE.test(c.image)),
    );
    const live = new Set(
      ours.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.uid as string),
    );
    for (const [uid, server] of this.servers) {
      if (!live.has(uid)) {
        this.log(
          `pod ${server.namespace}/${server.pod} is gone or terminating: stopping its spire-server, ` +
            `which holds ${this.entryCount(server)} entries`,
        );
        await stopDaemon(server.process);
        await this.api.request("DELETE", this.execPath(server.namespace, server.pod));
        this.servers.delete(uid);
        fs.rmSync(this.podDir(uid), { recursive: true, force: true });
        this.persist();
      }
    }
    for (const pod of ours) {
      if (pod.metadata.deletionTimestamp) continue;
      const server = this.servers.get(pod.metadata.uid);
      if (!server) await this.start(pod);
      else await this.probe(server, pod);
    }
    if (collectVolumes) await this.collectVolumes();
  }

  /**
   * The host directory of each volume the server container mounts, owned as the pod's fsGroup would have it;
   * `readOnly` lists those the container mounts read-only.
   */
  private async mounts(
    pod: Pod,
    container: Pod,
    runAs: RunAs,
  ): Promise<{ mounts: Record<string, string>; readOnly: string[] }> {
    const ns = pod.metadata.namespace;
    const mounts: Record<string, string> = {};
    const readOnly: string[] = [];
    for (const mount of container.volumeMounts ?? []) {
      const volume = pod.spec.volumes.find((v: { name: string }) => v.name === mount.name);
      let hostDir = path.join(this.podDir(pod.metadata.uid), "volumes", mount.name);
      if (mount.mountPath === SERVER_IMAGE_PATHS.socketDir) {
        // Short: a Unix socket path has at most 107 bytes.
        hostDir = path.join(this.state.dir, "s", pod.metadata.uid.slice(0, 8));
      } else if (volume?.configMap) {
        const cm = await this.api.get(`/api/v1/namespaces/${ns}/configmaps/${volume.configMap.name}`);
        if (cm.status !== 200) throw new Error(`configmap ${volume.configMap.name}: ${cm.status}`);
        fs.mkdirSync(hostDir, { recursive: true });
        for (const [key, text] of Object.entries(cm.body.data ?? {}))
          fs.writeFileSync(path.join(hostDir, key), text as string, { mode: 0o644 });
      } else if (volume?.persistentVolumeClaim) {
        const pvc = await this.api.get(
          `/api/v1/namespaces/${ns}/persistentvolumeclaims/${volume.persistentVolumeClaim.claimName}`,
        );
        const pv = pvc.body?.spec?.volumeName;
        if (!pv) throw new Error(`claim ${volume.persistentVolumeClaim.claimName} is not bound yet`);
        hostDir = path.join(this.state.dir, "volumes", pv);
      }
      fs.mkdirSync(hostDir, { recursive: true, mode: 0o700 });
      traversable(hostDir);
      if (runAs.fsGroup !== undefined) applyFsGroup(hostDir, runAs.fsGroup);
      if (mount.readOnly) readOnly.push(hostDir);
      mounts[mount.mountPath] = hostDir;
    }
    return { mounts, readOnly };
  }

  /** A kubeconfig with a token of the pod's ServiceAccount, as the pod would have in-cluster. */
  private async serviceAccountKubeconfig(pod: Pod, runAs: RunAs): Promise<string> {
    const ns = pod.metadata.namespace;
    const account = pod.spec.serviceAccountName ?? "default";
    const r = await this.api.request("POST", `/api/v1/namespaces/${ns}/serviceaccounts/${account}/token`, {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 86400 },
    });
    if (r.status !== 201)
      throw new Error(`token for ${ns}/${account}: ${r.status} ${JSON.stringify(r.body)}`);
    const admin = JSON.parse(fs.readFileSync(this.state.kubeconfig, "utf8"));
    const file = path.join(this.podDir(pod.metadata.uid), "kubeconfig");
    // The CA inline: the cluster's PKI directory is root's alone, as a node's is to a pod.
    const clusters = admin.clusters.map((c: Pod) => {
      const { "certificate-authority": caFile, ...cluster } = c.cluster;
      return {
        ...c,
        cluster: { ...cluster, "certificate-authority-data": fs.readFileSync(caFile).toString("base64") },
      };
    });
    fs.writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters,
        users: [{ name: account, user: { token: r.body.status.token } }],
        contexts: [
          { name: "pod", context: { cluster: admin.clusters[0].name, user: account, namespace: ns } },
        ],
        "current-context": "pod",
      }),
      { mode: 0o600 },
    );
    // Readable by the process as a projected token is: the root's file, in the pod's group.
    fs.chownSync(file, 0, runAs.fsGroup ?? runAs.gid);
    fs.chmodSync(file, 0o640);
    return file;
  }

  private async start(pod: Pod): Promise<void> {
    const container = pod.spec.containers.find((c: { image: string }) => SERVER_IMAGE.test(c.image));
    const args: string[] = container.args ?? [];
    const configPath = args[args.indexOf("-config") + 1];
    if (args.indexOf("-config") < 0 || !configPath)
      throw new Error(`${pod.metadata.name}: no -config argument`);
    const uid = pod.metadata.uid;
    const runAs = runAsOf(pod, container);
    fs.mkdirSync(this.podDir(uid), { recursive: true });
    traversable(this.podDir(uid));
    const { mounts, readOnly } = await this.mounts(pod, container, runAs);
    const configMount = Object.keys(mounts).find((m) => configPath.startsWith(`${m}/`));
    if (!configMount) throw new Error(`${pod.metadata.name}: ${configPath} is on no mounted volume`);
    const podConf = fs.readFileSync(mounts[configMount] + configPath.slice(configMount.length), "utf8");
    const socketDir = mounts[SERVER_IMAGE_PATHS.socketDir];
    if (!socketDir) throw new Error(`${pod.metadata.name}: no volume at ${SERVER_IMAGE_PATHS.socketDir}`);
    const remap = {
      mounts,
      bindPort: await freePort(),
      healthPort: await freePort(),
      bundleEndpointPort: await freePort(),
      socketPath: path.join(socketDir, "api.sock"),
      kubeconfig: await this.serviceAccountKubeconfig(pod, runAs),
    };
    const conf = await hostServerConf(podConf, remap);
    // Each listener's port in the pod -> its port on this host, for the probe to find the one it names.
    const inPod = await podListenerPorts(podConf);
    const podPorts = new Map<number, number>([
      [inPod.bindPort, remap.bindPort],
      ...(inPod.healthPort === undefined ? [] : [[inPod.healthPort, remap.healthPort] as [number, number]]),
      ...inPod.bundleEndpointPorts.map((p) => [p, remap.bundleEndpointPort] as [number, number]),
    ]);
    const readiness = readinessTarget(pod, container, podPorts);
    await this.pointExecAt(pod.metadata.namespace, pod.metadata.name, container.name, socketDir);
    const confFile = path.join(this.podDir(uid), "server.conf");
    fs.writeFileSync(confFile, conf, { mode: 0o644 });
    const argv = confinedArgv([binary("spire-server"), "run", "-config", confFile], runAs, readOnly);
    const server: HostServer = {
      uid,
      namespace: pod.metadata.namespace,
      pod: pod.metadata.name,
      container: container.name,
      image: container.image,
      readiness,
      argv,
      socketDir,
      process: this.launch(uid, argv),
      ready: false,
      restarts: 0,
      startedAt: new Date().toISOString(),
    };
    this.servers.set(uid, server);
    this.persist();
    this.log(
      `pod ${server.namespace}/${server.pod}: started spire-server (pid ${server.process.pid}, uid ${runAs.uid}, ` +
        `gid ${runAs.gid}, fsGroup ${runAs.fsGroup}, read-only ${readOnly.length}, readiness ` +
        `${JSON.stringify(readiness)})`,
    );
  }

  private execPath(namespace: string, pod: string): string {
    return `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/execs/${pod}`;
  }

  /** `kubectl exec` into this pod's server container finds that pod's admin socket (cluster.ts, image-bin). */
  private async pointExecAt(
    namespace: string,
    pod: string,
    container: string,
    socketDir: string,
  ): Promise<void> {
    await this.api.request("DELETE", this.execPath(namespace, pod));
    const r = await this.api.request("POST", `/apis/kwok.x-k8s.io/v1alpha1/namespaces/${namespace}/execs`, {
      apiVersion: "kwok.x-k8s.io/v1alpha1",
      kind: "Exec",
      metadata: { name: pod, namespace },
      spec: {
        execs: [
          { containers: [container], local: { envs: [{ name: SERVER_SOCKET_DIR_ENV, value: socketDir }] } },
        ],
      },
    });
    if (r.status !== 201)
      throw new Error(`Exec for ${namespace}/${pod}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** The server's own entry count, asked on its admin socket; for the record of what a deleted pod held. */
  private entryCount(server: HostServer): string {
    const r = spawnSync(
      binary("spire-server"),
      ["entry", "count", "-output", "json", "-socketPath", path.join(server.socketDir, "api.sock")],
      { encoding: "utf8", timeout: 10_000 },
    );
    return r.status === 0 ? String(JSON.parse(r.stdout).count) : `an unknown number of (${r.stderr.trim()})`;
  }

  private launch(uid: string, argv: readonly string[]): RecordedProcess {
    const log = path.join(this.state.dir, "logs", `spire-server-${uid}.log`);
    return startDaemon(`spire-server ${uid}`, argv, log);
  }

  /** The pod's readiness probe against the real server, and a restart when the server has exited. */
  private async probe(server: HostServer, pod: Pod): Promise<void> {
    let ready = false;
    if (!isAlive(server.process)) {
      server.restarts++;
      server.process = this.launch(server.uid, server.argv);
      this.persist();
      this.log(
        `pod ${server.namespace}/${server.pod}: spire-server exited; restarted (pid ${server.process.pid})`,
      );
    } else if ("none" in server.readiness) {
      ready = true; // no readiness probe: Ready while running, as a kubelet has it
    } else if ("url" in server.readiness) {
      try {
        const r = await fetch(server.readiness.url, {
          signal: AbortSignal.timeout(2000),
          redirect: "manual",
        });
        ready = r.status >= 200 && r.status < 400; // a kubelet's httpGet success
      } catch {
        ready = false;
      }
    }
    const reported = (pod.status?.conditions ?? []).some(
      (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
    );
    if (ready === server.ready && reported === ready && pod.status?.phase === "Running") return;
    server.ready = ready;
    await this.reportStatus(server, ready);
  }

  private async reportStatus(server: HostServer, ready: boolean): Promise<void> {
    const now = new Date().toISOString();
    const status = ready ? "True" : "False";
    const r = await this.api.request(
      "PATCH",
      `/api/v1/namespaces/${server.namespace}/pods/${server.pod}/status?fieldManager=${HOST_KUBELET}`,
      {
        status: {
          phase: "Running",
          hostIP: "127.0.0.1",
          podIP: "10.244.255.1",
          podIPs: [{ ip: "10.244.255.1" }],
          startTime: server.startedAt,
          conditions: [
            { type: "Initialized", status: "True", lastTransitionTime: server.startedAt },
            { type: "ContainersReady", status, lastTransitionTime: now },
            { type: "Ready", status, lastTransitionTime: now },
          ],
          containerStatuses: [
            {
              name: server.container,
              image: server.image,
              imageID: "",
              ready,
              started: true,
              restartCount: server.restarts,
              state: { running: { startedAt: server.startedAt } },
            },
          ],
        },
      },
      "application/strategic-merge-patch+json",
    );
    if (r.status !== 200) throw new Error(`status of ${server.namespace}/${server.pod}: ${r.status}`);
    this.log(`pod ${server.namespace}/${server.pod}: Ready=${status}`);
  }

  /** Deletes the host directory of every volume whose PersistentVolume is gone (reclaim policy Delete). */
  private async collectVolumes(): Promise<void> {
    const root = path.join(this.state.dir, "volumes");
    if (!fs.existsSync(root)) return;
    const pvs = new Set(
      ((await this.api.get("/api/v1/persistentvolumes")).body.items as Pod[]).map((p) => p.metadata.name),
    );
    for (const name of fs.readdirSync(root)) {
      if (!pvs.has(name)) {
        fs.rmSync(path.join(root, name), { recursive: true, force: true });
        this.log(`volume ${name} deleted with its PersistentVolume`);
      }
    }
  }
}
