/**
 * Shared by the real-engine suites: a loopback cluster of their own (temporary directory, free ports), the real
 * SPIRE server behind the spire-server pod, and what the cluster and the engine report.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import {
  binary,
  type ClusterState,
  clusterDown,
  clusterUp,
  serverSocketOf,
} from "../../local/cluster/cluster";
import { KubeApi } from "../../local/cluster/kubeApi";
import type { ShownEntry } from "../../local/spireHarness";

export interface E2eCluster {
  readonly state: ClusterState;
  readonly api: KubeApi;
  readonly workDir: string;
  stop(): Promise<void>;
}

/** A taint no workload of ours tolerates by name: only a tolerate-everything toleration admits a pod there. */
export const DEDICATED_TAINT = { key: "dedicated", value: "batch-only", effect: "NoSchedule" };

/** With `taintedNode`, a second node carries DEDICATED_TAINT, as a node pool reserved for other work would. */
export async function startE2eCluster(
  prefix: string,
  options: { taintedNode?: boolean } = {},
): Promise<E2eCluster> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dir = path.join(workDir, "cluster");
  const state = await clusterUp({ dir, nodes: options.taintedNode ? 2 : 1 });
  const api = KubeApi.fromKubeconfig(state.kubeconfig);
  if (options.taintedNode) {
    const tainted = state.nodes[1];
    const r = await api.request(
      "PATCH",
      `/api/v1/nodes/${tainted}`,
      { spec: { taints: [DEDICATED_TAINT] } },
      "application/merge-patch+json",
    );
    if (r.status !== 200) throw new Error(`tainting ${tainted}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return {
    state,
    api,
    workDir,
    stop: async () => {
      api.close();
      await clusterDown({ dir, purge: true });
      fs.rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** The entries the real server behind a spire-server pod holds, asked on its admin socket directly. */
export function serverEntries(
  state: ClusterState,
  namespace = "spire",
  pod = "spire-server-0",
): ShownEntry[] {
  const r = spawnSync(
    binary("spire-server"),
    ["entry", "show", "-output", "json", "-socketPath", serverSocketOf(state.dir, namespace, pod)],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (r.status !== 0) throw new Error(`spire-server entry show exited ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { entries?: ShownEntry[] }).entries ?? [];
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are read loosely.
type Obj = any;

/** Workloads that are not Ready, as "Kind ns/name (ready/wanted)"; empty when all are. */
export async function unreadyWorkloads(api: KubeApi): Promise<string[]> {
  const unready: string[] = [];
  for (const [kind, collection] of [
    ["Deployment", "/apis/apps/v1/deployments"],
    ["StatefulSet", "/apis/apps/v1/statefulsets"],
  ] as const) {
    for (const o of (await api.get(collection)).body.items as Obj[]) {
      const want = o.spec.replicas ?? 1;
      const ready = o.status?.readyReplicas ?? 0;
      if (ready !== want || (o.status?.updatedReplicas ?? 0) !== want) {
        unready.push(`${kind} ${o.metadata.namespace}/${o.metadata.name} (${ready}/${want})`);
      }
    }
  }
  for (const o of (await api.get("/apis/apps/v1/daemonsets")).body.items as Obj[]) {
    const want = o.status?.desiredNumberScheduled ?? -1;
    if (want < 1 || o.status?.numberReady !== want) {
      unready.push(`DaemonSet ${o.metadata.namespace}/${o.metadata.name} (${o.status?.numberReady}/${want})`);
    }
  }
  return unready;
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(250);
  }
}

/** Objects of the cluster that are not the control plane's own: what a stack may have left behind. */
export async function leftovers(api: KubeApi): Promise<string[]> {
  const systemNamespaces = new Set(["default", "kube-system", "kube-public", "kube-node-lease"]);
  const names = (items: Obj[]) =>
    items.map((o) => `${o.kind ?? ""}${o.metadata.namespace ?? ""}/${o.metadata.name}`);
  const found: string[] = [];
  const namespaces = (await api.get("/api/v1/namespaces")).body.items as Obj[];
  found.push(
    ...namespaces
      .filter((n) => !systemNamespaces.has(n.metadata.name))
      .map((n) => `Namespace ${n.metadata.name}`),
  );
  const notSystem = (o: Obj) =>
    !o.metadata.name.startsWith("system:") && !o.metadata.labels?.["kubernetes.io/bootstrapping"];
  for (const [kind, collection] of [
    ["ClusterRole", "/apis/rbac.authorization.k8s.io/v1/clusterroles"],
    ["ClusterRoleBinding", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"],
  ] as const) {
    const items = ((await api.get(collection)).body.items as Obj[]).filter(notSystem);
    found.push(...items.map((o) => `${kind} ${o.metadata.name}`));
  }
  const configMaps = ((await api.get("/api/v1/configmaps")).body.items as Obj[]).filter(
    (o) => !systemNamespaces.has(o.metadata.namespace) && o.metadata.name !== "kube-root-ca.crt",
  );
  found.push(...names(configMaps).map((n) => `ConfigMap ${n}`));
  found.push(...names((await api.get("/api/v1/persistentvolumeclaims")).body.items).map((n) => `PVC ${n}`));
  found.push(...names((await api.get("/api/v1/persistentvolumes")).body.items).map((n) => `PV ${n}`));
  return found;
}
