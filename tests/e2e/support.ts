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
import { HOST_KUBELET, SERVER_IMAGE } from "../../local/cluster/hostPods";
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

/**
 * Runs the real server CLI on the admin socket of the server behind a spire-server pod; fails on a non-zero exit.
 * Its stdout stays in memory (x509 mint prints a key).
 */
export function serverCli(
  state: ClusterState,
  args: readonly string[],
  namespace = "spire",
  pod = "spire-server-0",
): string {
  const r = spawnSync(
    binary("spire-server"),
    [...args, "-socketPath", serverSocketOf(state.dir, namespace, pod)],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (r.status !== 0) throw new Error(`spire-server ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** An entry as the drift proofs plant it out of band: the fields `entry create|update` takes back. */
export interface PlantedEntry {
  readonly id: string;
  readonly spiffeId: string;
  readonly parentId: string;
  readonly selectors: readonly string[];
  readonly ttl: number;
}

/** Creates or updates an entry behind the stack's back, as an operator with the server CLI would; `extra` flags last. */
export function plantEntry(
  state: ClusterState,
  verb: "create" | "update",
  e: PlantedEntry,
  ...extra: string[]
): string {
  return serverCli(state, [
    "entry",
    verb,
    "-entryID",
    e.id,
    "-spiffeID",
    e.spiffeId,
    "-parentID",
    e.parentId,
    ...e.selectors.flatMap((s) => ["-selector", s]),
    "-x509SVIDTTL",
    String(e.ttl),
    ...extra,
  ]);
}

/** The entries the real server behind a spire-server pod holds, asked on its admin socket directly. */
export function serverEntries(
  state: ClusterState,
  namespace = "spire",
  pod = "spire-server-0",
): ShownEntry[] {
  const shown = serverCli(state, ["entry", "show", "-output", "json"], namespace, pod);
  return (JSON.parse(shown) as { entries?: ShownEntry[] }).entries ?? [];
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are read loosely.
type Obj = any;

export interface WorkloadStatus {
  /** Workloads whose pods a host process backs (the SPIRE server image), Ready as a real probe found them. */
  readonly ready: string[];
  /** Host-backed workloads not Ready, or whose Ready was not written by the host kubelet. */
  readonly notReady: string[];
  /** Any workload whose controller has not created its pods from the current template, or not placed them. */
  readonly unplaced: string[];
}

/**
 * What the loopback cluster can vouch for of each Deployment, StatefulSet and DaemonSet. Readiness only for
 * workloads whose pods a host process backs: kwok marks every other pod Ready without running a container, so
 * "Ready" says nothing of them. Of every workload: the real controllers created its pods from the current
 * template and the real scheduler placed them on a node.
 */
export async function workloadStatus(api: KubeApi): Promise<WorkloadStatus> {
  const pods = ((await api.get("/api/v1/pods")).body.items as Obj[]).filter(
    (p) => !p.metadata.deletionTimestamp,
  );
  const replicaSetOwner = new Map<string, string>();
  for (const rs of (await api.get("/apis/apps/v1/replicasets")).body.items as Obj[]) {
    const owner = rs.metadata.ownerReferences?.find((o: Obj) => o.controller)?.uid;
    if (owner) replicaSetOwner.set(rs.metadata.uid, owner);
  }
  const podsOf = (workload: Obj) =>
    pods.filter((p) => {
      const owner = p.metadata.ownerReferences?.find((o: Obj) => o.controller)?.uid;
      return owner === workload.metadata.uid || replicaSetOwner.get(owner) === workload.metadata.uid;
    });
  const status: WorkloadStatus = { ready: [], notReady: [], unplaced: [] };
  for (const [kind, collection] of [
    ["Deployment", "/apis/apps/v1/deployments"],
    ["StatefulSet", "/apis/apps/v1/statefulsets"],
    ["DaemonSet", "/apis/apps/v1/daemonsets"],
  ] as const) {
    for (const o of (await api.get(collection)).body.items as Obj[]) {
      const name = `${kind} ${o.metadata.namespace}/${o.metadata.name}`;
      const want = kind === "DaemonSet" ? (o.status?.desiredNumberScheduled ?? 0) : (o.spec.replicas ?? 1);
      const updated = kind === "DaemonSet" ? o.status?.updatedNumberScheduled : o.status?.updatedReplicas;
      const own = podsOf(o);
      const placed = own.filter((p) => p.spec.nodeName).length;
      if (
        want < 1 ||
        (o.status?.observedGeneration ?? 0) < o.metadata.generation ||
        (updated ?? 0) !== want ||
        own.length !== want ||
        placed !== want
      ) {
        status.unplaced.push(
          `${name} (${placed} placed of ${own.length}, ${updated ?? 0} updated, want ${want})`,
        );
      }
      if (!o.spec.template.spec.containers.some((c: Obj) => SERVER_IMAGE.test(c.image))) continue;
      // Ready counts only when the host kubelet wrote it, after its probe of the real process, and kwok did not.
      const managers = (p: Obj) =>
        (p.metadata.managedFields as Obj[]).filter((f) => f.subresource === "status").map((f) => f.manager);
      const vouched = own.filter(
        (p) =>
          managers(p).includes(HOST_KUBELET) &&
          !managers(p).includes("kwok") &&
          p.status?.conditions?.some((c: Obj) => c.type === "Ready" && c.status === "True"),
      ).length;
      (vouched === want ? status.ready : status.notReady).push(`${name} (${vouched}/${want})`);
    }
  }
  return status;
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

/**
 * Every object of every listable kind the API server serves (from discovery: the core group and every group's
 * preferred version, cluster-scoped and namespaced kinds alike), as "Kind.group namespace/name". Compared before
 * a stack's up and after its destroy, it finds whatever the stack left, of kinds no list names in advance.
 */
export async function inventory(api: KubeApi): Promise<Map<string, Obj>> {
  const lists: { base: string; group: string; resource: Obj }[] = [];
  for (const r of (await api.get("/api/v1")).body.resources as Obj[])
    lists.push({ base: "/api/v1", group: "", resource: r });
  for (const g of (await api.get("/apis")).body.groups as Obj[]) {
    const base = `/apis/${g.preferredVersion.groupVersion}`;
    const discovered = await api.get(base);
    if (discovered.status !== 200) throw new Error(`discovery of ${base}: ${discovered.status}`);
    for (const r of discovered.body.resources as Obj[]) lists.push({ base, group: g.name, resource: r });
  }
  const found = new Map<string, Obj>();
  for (const { base, group, resource } of lists) {
    // Subresources (pods/log) are not kinds of their own; some kinds (TokenReview) can only be created.
    if (resource.name.includes("/") || !resource.verbs.includes("list")) continue;
    const r = await api.get(`${base}/${resource.name}`);
    if (r.status !== 200)
      throw new Error(`listing ${base}/${resource.name}: ${r.status} ${JSON.stringify(r.body)}`);
    for (const o of r.body.items as Obj[]) {
      const kind = group ? `${resource.kind}.${group}` : resource.kind;
      found.set(`${kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`, o);
    }
  }
  return found;
}

/** The cluster's own namespaces, where its controllers keep their own objects. */
const SYSTEM_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease"]);
/** The field managers of the control plane's components. */
const CONTROL_PLANE = new Set(["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]);

/**
 * Objects the cluster itself writes, at any time, whatever the stacks do; each may differ between two inventories
 * without any stack being the cause.
 */
export const CLUSTER_OWN: readonly { what: string; why: string; test: (key: string, o: Obj) => boolean }[] = [
  {
    what: "Events (core and events.k8s.io)",
    why: "the components' record of what happened to objects; they expire on their own (--event-ttl)",
    test: (key) => /^Event(\.events\.k8s\.io)? /.test(key),
  },
  {
    what: "objects in the cluster's own namespaces that only control-plane components ever wrote",
    why:
      "controllers create their own ServiceAccounts, the kube-root-ca.crt ConfigMap and their leases as they " +
      "start, which may be after the first inventory; an object a stack wrote there carries its own manager",
    test: (_key, o) =>
      SYSTEM_NAMESPACES.has(o.metadata.namespace) &&
      (o.metadata.managedFields ?? []).length > 0 &&
      (o.metadata.managedFields as Obj[]).every((f) => CONTROL_PLANE.has(f.manager)),
  },
];

/** What differs between two inventories, the cluster's own objects left out: "+ key" added, "- key" removed. */
export function inventoryChanges(before: Map<string, Obj>, after: Map<string, Obj>): string[] {
  const own = (key: string, o: Obj) => CLUSTER_OWN.some((e) => e.test(key, o));
  return [
    ...[...after].filter(([k, o]) => !before.has(k) && !own(k, o)).map(([k]) => `+ ${k}`),
    ...[...before].filter(([k, o]) => !after.has(k) && !own(k, o)).map(([k]) => `- ${k}`),
  ].sort();
}

/**
 * The changes since `before` once they have settled: volumes go after their claims and namespaces after their
 * content, asynchronously, as on any cluster. Waits up to `settleMs` for the differences to go; returns the last.
 */
export async function changesSince(
  api: KubeApi,
  before: Map<string, Obj>,
  settleMs = 30_000,
): Promise<string[]> {
  const deadline = Date.now() + settleMs;
  let changes = inventoryChanges(before, await inventory(api));
  while (changes.length > 0 && Date.now() < deadline) {
    await delay(500);
    changes = inventoryChanges(before, await inventory(api));
  }
  return changes;
}

/**
 * A kubeconfig of a ServiceAccount bound to the built-in `view` ClusterRole, as README "preview" recommends for
 * the PR preview: it reads, writes nothing, and cannot create pods/exec. Create it before the inventory a test
 * compares against: the ServiceAccount and its binding stay.
 */
export async function viewKubeconfig(cluster: E2eCluster): Promise<string> {
  const [namespace, name] = ["kube-system", "pulumi-preview"];
  const created = async (path: string, body: unknown) => {
    const r = await cluster.api.request("POST", path, body);
    if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  await created(`/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } });
  await created("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
    subjects: [{ kind: "ServiceAccount", name, namespace }],
  });
  const token = await created(`/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec: { expirationSeconds: 3600 },
  });
  const admin = JSON.parse(fs.readFileSync(cluster.state.kubeconfig, "utf8"));
  const file = path.join(cluster.workDir, "view-kubeconfig");
  fs.writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: admin.clusters,
      users: [{ name, user: { token: token.status.token } }],
      contexts: [{ name: "loopback", context: { cluster: admin.clusters[0].name, user: name } }],
      "current-context": "loopback",
    }),
    { mode: 0o600 },
  );
  return file;
}
