/**
 * A Kubernetes control plane on 127.0.0.1 with no containers: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler and kwok (fake kubelets), built by scripts/install-kubernetes.sh. Pods become Ready on fake
 * nodes; PVCs bind to fake volumes of the default StorageClass; `kubectl exec` runs the command on this host.
 *
 * kwok runs in a private mount namespace in which the SPIRE server image's paths exist: /opt/spire/bin holds
 * a spire-server that runs the real 1.13.3 CLI in a mount namespace of its own, where /tmp/spire-server/private
 * is the admin socket directory of the pod exec'd into (hostPods.ts tells kwok which, through an Exec object).
 * So the rendered exec prefix, `kubectl exec ... -- /opt/spire/bin/spire-server`, reaches that pod's real
 * server through the API server and kwok, exactly as written, and several server pods can coexist.
 *
 * The cluster lives in one directory (default .cache/cluster) with its state file: ports, PIDs and start times.
 * Starting again is safe; stopping kills only the processes recorded there.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parse } from "yaml";
import { freePort } from "../ports";
import { KubeApi } from "./kubeApi";
import { inPrivateMountNamespace, mkdirRecorded, removeCreatedMountPoints } from "./mountPoints";
import { ensurePki, kubeconfigFor } from "./pki";
import { isAlive, logTail, type RecordedProcess, startDaemon, stopDaemon } from "./processes";

export const REPO_ROOT = path.resolve(__dirname, "../..");
export const DEFAULT_CLUSTER_DIR = path.join(REPO_ROOT, ".cache", "cluster");
export const KUBERNETES_BIN_DIR = path.join(REPO_ROOT, ".cache", "kubernetes", "bin");
const SPIRE_BIN_DIR = path.join(REPO_ROOT, ".cache", "spire", "bin");
const KWOK_STAGE_DIR = path.join(REPO_ROOT, ".cache", "kubernetes", "kwok-stage");
const KWOK_EXEC_CRD = path.join(REPO_ROOT, ".cache", "kubernetes", "kwok-crd", "kwok.x-k8s.io_execs.yaml");
/** The variable an Exec object sets for `kubectl exec` into a host-backed SPIRE server pod. */
export const SERVER_SOCKET_DIR_ENV = "SPIRE_MESH_SERVER_SOCKET_DIR";

/** Where the SPIRE server image keeps its binary and admin socket; mapped into kwok's mount namespace. */
export const SERVER_IMAGE_PATHS = { binDir: "/opt/spire/bin", socketDir: "/tmp/spire-server/private" };

export interface ClusterPorts {
  readonly etcdClient: number;
  readonly etcdPeer: number;
  readonly apiserver: number;
  readonly controllerManager: number;
  readonly scheduler: number;
  readonly kwok: number;
}

export interface ClusterState {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly ports: ClusterPorts;
  readonly nodes: readonly string[];
  readonly processes: readonly RecordedProcess[];
  /** Mount-point directories this cluster created on the host (empty; removed on stop). */
  readonly createdMountPoints: readonly string[];
  /** Host directory whose socket kwok's namespace sees as the server image's admin socket directory. */
  readonly serverSocketDir: string;
}

export interface ClusterOptions {
  readonly dir?: string;
  readonly nodes?: number;
  /** Fixed ports instead of free ones (a test uses a taken one to see a failed start). */
  readonly ports?: Partial<ClusterPorts>;
  /** Progress lines; default silent. */
  readonly log?: (line: string) => void;
}

const statePath = (dir: string) => path.join(dir, "state.json");

export function readClusterState(dir = DEFAULT_CLUSTER_DIR): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(statePath(dir), "utf8")) as ClusterState;
  } catch {
    return undefined;
  }
}

export function binary(name: string): string {
  const file = path.join(name.startsWith("spire-") ? SPIRE_BIN_DIR : KUBERNETES_BIN_DIR, name);
  if (!fs.existsSync(file)) {
    const script = name.startsWith("spire-") ? "install-spire.sh" : "install-kubernetes.sh";
    throw new Error(`${name} not found at ${file}: run bash scripts/${script} (or npm run setup)`);
  }
  return file;
}

async function waitFor(
  what: string,
  proc: RecordedProcess | undefined,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (proc && !isAlive(proc))
      throw new Error(`${proc.name} exited before ${what}; log tail:\n${logTail(proc.log)}`);
    try {
      if (await check()) return;
    } catch (e) {
      lastError = (e as Error).message;
    }
    await delay(200);
  }
  const tail = proc ? `; log tail:\n${logTail(proc.log)}` : "";
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (${lastError})` : ""}${tail}`,
  );
}

function kwokConfig(): string {
  if (!fs.existsSync(KWOK_STAGE_DIR))
    throw new Error(`kwok stages missing at ${KWOK_STAGE_DIR}: run bash scripts/install-kubernetes.sh`);
  const stage = (file: string) => fs.readFileSync(path.join(KWOK_STAGE_DIR, file), "utf8").trim();
  // Pods of the SPIRE server image are host-backed: hostPods.ts runs the real server and reports readiness from
  // its health check, so kwok's generic "ready at once" stage must leave them alone.
  const podReady = stage("pod/fast/pod-ready.yaml").replace(
    "  selector:\n    matchExpressions:\n",
    "  selector:\n    matchExpressions:\n" +
      "    - cel:\n        expression: >-\n          !self.spec.containers.exists(c, c.image.matches('(^|/)spire-server([:@]|$)'))\n",
  );
  if (!podReady.includes("spire-server"))
    throw new Error("kwok's pod-ready stage changed shape; update cluster.ts");
  return [
    [
      "apiVersion: config.kwok.x-k8s.io/v1alpha1",
      "kind: KwokConfiguration",
      "options:",
      "  enableDebuggingHandlers: true",
      "  nodeLeaseParallelism: 4",
      "  podPlayStageParallelism: 4",
      "  nodePlayStageParallelism: 4",
      "  podsOnNodeSyncParallelism: 1",
    ].join("\n"),
    // `kubectl exec` into any fake pod runs the command on this host (inside kwok's mount namespace).
    [
      "apiVersion: kwok.x-k8s.io/v1alpha1",
      "kind: ClusterExec",
      "metadata:",
      "  name: host",
      "spec:",
      "  execs:",
      "  - local: {}",
    ].join("\n"),
    stage("node/fast/node-initialize.yaml"),
    stage("node/heartbeat-with-lease/node-heartbeat-with-lease.yaml"),
    podReady,
    stage("pod/fast/pod-complete.yaml"),
    stage("pod/fast/pod-delete.yaml"),
    stage("volume/fast/pvc-provision.yaml"),
    stage("volume/fast/pv-bind.yaml"),
    stage("volume/fast/pv-delete.yaml"),
    stage("volume/fast/pvc-delete.yaml"),
  ].join("\n---\n");
}

const storageClass = () =>
  JSON.parse(
    JSON.stringify({
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: {
        name: "kwok-volume",
        annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
      },
      provisioner: "kwok.x-k8s.io/volume",
      reclaimPolicy: "Delete",
      volumeBindingMode: "Immediate",
    }),
  );

const fakeNode = (name: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: {
    name,
    annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
    labels: {
      "kubernetes.io/hostname": name,
      "kubernetes.io/os": "linux",
      "kubernetes.io/arch": "amd64",
      "node.kubernetes.io/instance-type": "kwok",
      "topology.kubernetes.io/zone": "loopback-a",
      type: "kwok",
    },
  },
  status: {
    allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
    capacity: { cpu: "32", memory: "256Gi", pods: "110" },
    nodeInfo: { architecture: "amd64", operatingSystem: "linux", kubeletVersion: "fake" },
  },
});

async function createIfAbsent(api: KubeApi, collection: string, object: unknown): Promise<void> {
  const r = await api.request("POST", collection, object);
  if (r.status !== 201 && r.status !== 409)
    throw new Error(`POST ${collection}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Starts the cluster (or confirms it is already running) and returns its state. */
export async function clusterUp(options: ClusterOptions = {}): Promise<ClusterState> {
  const dir = path.resolve(options.dir ?? DEFAULT_CLUSTER_DIR);
  const log = options.log ?? (() => {});
  const previous = readClusterState(dir);
  if (previous?.processes.length && previous.processes.every(isAlive)) {
    log(`cluster in ${dir} is already running`);
    return previous;
  }
  if (previous) await clusterDown({ dir, log });

  const bins = Object.fromEntries(
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"].map((n) => [
      n,
      binary(n),
    ]),
  );
  fs.mkdirSync(path.join(dir, "logs"), { recursive: true });
  const pki = ensurePki(path.join(dir, "pki"));
  const ports: ClusterPorts = {
    ...(previous?.ports ?? {
      etcdClient: await freePort(),
      etcdPeer: await freePort(),
      apiserver: await freePort(),
      controllerManager: await freePort(),
      scheduler: await freePort(),
      kwok: await freePort(),
    }),
    ...options.ports,
  };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const kubeconfig = path.join(dir, "kubeconfig");
  fs.writeFileSync(kubeconfig, kubeconfigFor(pki, server, "admin", pki.pairs.admin), { mode: 0o600 });
  const componentConfig = (name: string) => {
    const file = path.join(dir, `${name}.kubeconfig`);
    fs.writeFileSync(file, kubeconfigFor(pki, server, name, pki.pairs[name]), { mode: 0o600 });
    return file;
  };
  const logFile = (name: string) => path.join(dir, "logs", `${name}.log`);
  const started: RecordedProcess[] = [];
  const createdMountPoints: string[] = [];
  const serverSocketDir = path.join(dir, "spire-server-socket");
  fs.mkdirSync(serverSocketDir, { recursive: true, mode: 0o700 });
  const persist = () =>
    fs.writeFileSync(
      statePath(dir),
      `${JSON.stringify({ dir, kubeconfig, ports, nodes: nodeNames, processes: started, createdMountPoints, serverSocketDir } satisfies ClusterState, null, 2)}\n`,
    );
  const nodeNames = Array.from({ length: options.nodes ?? 1 }, (_, i) => `kwok-node-${i}`);
  const start = (name: string, argv: string[]) => {
    const p = startDaemon(name, argv, logFile(name));
    started.push(p);
    persist();
    log(`started ${name} (pid ${p.pid})`);
    return p;
  };

  try {
    const etcd = start("etcd", [
      bins.etcd,
      "--name=loopback",
      `--data-dir=${path.join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=loopback=http://127.0.0.1:${ports.etcdPeer}`,
      "--listen-metrics-urls=",
      // A throwaway test store: durability is not worth the fsync latency on a 2-core machine.
      "--unsafe-no-fsync",
      "--quota-backend-bytes=2147483648",
    ]);
    await waitFor("etcd health", etcd, async () => {
      const r = await fetch(`http://127.0.0.1:${ports.etcdClient}/health`);
      return r.ok && ((await r.json()) as { health: string }).health === "true";
    });

    const apiserver = start("kube-apiserver", [
      bins["kube-apiserver"],
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${ports.apiserver}`,
      "--advertise-address=127.0.0.1",
      "--endpoint-reconciler-type=none",
      `--tls-cert-file=${pki.pairs.apiserver.cert}`,
      `--tls-private-key-file=${pki.pairs.apiserver.key}`,
      `--client-ca-file=${pki.caCert}`,
      `--kubelet-client-certificate=${pki.pairs["kubelet-client"].cert}`,
      `--kubelet-client-key=${pki.pairs["kubelet-client"].key}`,
      `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
      "--requestheader-allowed-names=front-proxy-client",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-username-headers=X-Remote-User",
      `--proxy-client-cert-file=${pki.pairs["front-proxy-client"].cert}`,
      `--proxy-client-key-file=${pki.pairs["front-proxy-client"].key}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki.serviceAccountPub}`,
      `--service-account-signing-key-file=${pki.serviceAccountKey}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      "--authorization-mode=Node,RBAC",
      "--allow-privileged=true",
    ]);
    const api = KubeApi.fromKubeconfig(kubeconfig);
    try {
      await waitFor(
        "the API server's /readyz",
        apiserver,
        async () => (await api.get("/readyz")).body === "ok",
      );

      start("kube-controller-manager", [
        bins["kube-controller-manager"],
        `--kubeconfig=${componentConfig("controller-manager")}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${ports.controllerManager}`,
        "--use-service-account-credentials",
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
      ]);
      start("kube-scheduler", [
        bins["kube-scheduler"],
        `--kubeconfig=${componentConfig("scheduler")}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        `--secure-port=${ports.scheduler}`,
      ]);

      const kwokConfigFile = path.join(dir, "kwok.yaml");
      fs.writeFileSync(kwokConfigFile, kwokConfig());
      await createIfAbsent(api, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", execCrd());
      const mounts: [string, string][] = [
        [SERVER_IMAGE_PATHS.binDir, writeServerImageBin(dir)],
        [SERVER_IMAGE_PATHS.socketDir, serverSocketDir],
      ];
      fs.mkdirSync(SPIRE_BIN_DIR, { recursive: true });
      for (const [target] of mounts) createdMountPoints.push(...mkdirRecorded(target));
      persist();
      // Bind the image paths inside a private mount namespace, then exec kwok there; the script takes every
      // path as an argument, so nothing is interpolated into shell text.
      const bindThenExec =
        'set -eu; while [ "$1" != "--" ]; do mount --bind "$2" "$1"; shift 2; done; shift; exec "$@"';
      const kwok = start(
        "kwok",
        inPrivateMountNamespace(bindThenExec, [
          ...mounts.flat(),
          "--",
          bins.kwok,
          `--kubeconfig=${kubeconfig}`,
          `--config=${kwokConfigFile}`,
          "--manage-all-nodes=false",
          "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
          `--server-address=127.0.0.1:${ports.kwok}`,
          `--node-port=${ports.kwok}`,
          "--node-ip=127.0.0.1",
          "--cidr=10.244.0.0/16",
          "--node-lease-duration-seconds=40",
          // Exec objects come from the API (hostPods.ts creates one per server pod); ClusterExec from the config.
          "--enable-crds=Exec",
          `--tls-cert-file=${pki.pairs.kwok.cert}`,
          `--tls-private-key-file=${pki.pairs.kwok.key}`,
        ]),
      );

      start("host-pods", [
        process.execPath,
        "-r",
        path.join(REPO_ROOT, "node_modules", "ts-node", "register", "transpile-only"),
        path.join(__dirname, "hostPodsMain.ts"),
        dir,
      ]);

      await createIfAbsent(api, "/apis/storage.k8s.io/v1/storageclasses", storageClass());
      for (const name of nodeNames) await createIfAbsent(api, "/api/v1/nodes", fakeNode(name));
      for (const name of nodeNames) {
        await waitFor(`node ${name} Ready`, kwok, async () => {
          const r = await api.get(`/api/v1/nodes/${name}`);
          return (r.body?.status?.conditions ?? []).some(
            (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
          );
        });
      }
      // The controller-manager's ServiceAccount controller has run once namespaces get their `default` account.
      await waitFor("the default ServiceAccount", started[2], async () => {
        return (await api.get("/api/v1/namespaces/default/serviceaccounts/default")).status === 200;
      });
    } finally {
      api.close();
    }
    for (const p of started) {
      if (!isAlive(p)) throw new Error(`${p.name} exited during start-up; log tail:\n${logTail(p.log)}`);
    }
    log(`cluster ready: KUBECONFIG=${kubeconfig}`);
    return readClusterState(dir) as ClusterState;
  } catch (e) {
    await clusterDown({ dir, log });
    throw e;
  }
}

function readHostServers(dir: string): RecordedProcess[] {
  try {
    return (
      JSON.parse(fs.readFileSync(path.join(dir, "host-pods.json"), "utf8")) as {
        processes: RecordedProcess[];
      }
    ).processes;
  } catch {
    return [];
  }
}

/** The admin socket on this host of a host-backed SPIRE server pod. */
export function serverSocketOf(dir: string, namespace = "spire", pod = "spire-server-0"): string {
  const record = JSON.parse(fs.readFileSync(path.join(dir, "host-pods.json"), "utf8")) as {
    sockets?: Record<string, string>;
  };
  const socket = record.sockets?.[`${namespace}/${pod}`];
  if (!socket) throw new Error(`no host-backed SPIRE server for pod ${namespace}/${pod} in ${dir}`);
  return socket;
}

function execCrd(): unknown {
  if (!fs.existsSync(KWOK_EXEC_CRD))
    throw new Error(`kwok's Exec CRD missing at ${KWOK_EXEC_CRD}: run bash scripts/install-kubernetes.sh`);
  return parse(fs.readFileSync(KWOK_EXEC_CRD, "utf8"));
}

/**
 * What kwok's namespace shows at the server image's /opt/spire/bin: a spire-server that runs the real CLI with
 * /tmp/spire-server/private bound to the admin socket directory of the pod exec'd into (SERVER_SOCKET_DIR_ENV,
 * set per pod by an Exec object), in a mount namespace of its own. Paths go in as arguments, not shell text.
 */
function writeServerImageBin(dir: string): string {
  const bin = path.join(dir, "image-bin");
  fs.mkdirSync(bin, { recursive: true });
  const script = [
    "#!/bin/sh",
    "# kubectl exec into a host-backed spire-server pod (see local/cluster/cluster.ts).",
    "set -eu",
    `real=${JSON.stringify(binary("spire-server"))}`,
    `socket_dir="\${${SERVER_SOCKET_DIR_ENV}:-}"`,
    '[ -n "$socket_dir" ] || exec "$real" "$@"',
    `exec unshare --mount --propagation private -- /bin/sh -c 'mount --bind "$1" ${SERVER_IMAGE_PATHS.socketDir} && shift && exec "$@"' sh "$socket_dir" "$real" "$@"`,
    "",
  ].join("\n");
  fs.writeFileSync(path.join(bin, "spire-server"), script, { mode: 0o755 });
  return bin;
}

/** Stops the recorded processes (newest first) and removes the mount points the cluster created. */
export async function clusterDown(
  options: { dir?: string; purge?: boolean; log?: (line: string) => void } = {},
): Promise<void> {
  const dir = path.resolve(options.dir ?? DEFAULT_CLUSTER_DIR);
  const log = options.log ?? (() => {});
  const state = readClusterState(dir);
  if (state) {
    // The host-backed servers first: they are children of the host-pods controller, detached so that their own
    // records (host-pods.json) stop them even after the controller was killed.
    const hostServers = readHostServers(dir);
    for (const p of [...state.processes.filter((x) => x.name === "host-pods"), ...hostServers]) {
      if (isAlive(p)) {
        await stopDaemon(p);
        log(`stopped ${p.name} (pid ${p.pid})`);
      }
    }
    for (const p of [...state.processes].reverse()) {
      if (isAlive(p)) {
        await stopDaemon(p);
        log(`stopped ${p.name} (pid ${p.pid})`);
      }
    }
    removeCreatedMountPoints(state.createdMountPoints);
    fs.writeFileSync(
      statePath(dir),
      `${JSON.stringify({ ...state, processes: [], createdMountPoints: [] }, null, 2)}\n`,
    );
  }
  if (options.purge) fs.rmSync(dir, { recursive: true, force: true });
}
