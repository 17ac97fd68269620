/** The agents' node alias, and the walkthrough's registration entries (register_server_entries.sh). */
import type { EntrySpec } from "./entries";
import type { SpireSettings } from "./settings";

/** What makes agents of one installation one node alias: its ID and the k8s_psat selectors that grant it. */
export interface NodeAlias {
  readonly spiffeId: string;
  readonly selectors: readonly string[];
}

export function nodeAlias(
  s: Pick<SpireSettings, "trustDomain" | "clusterName" | "namespace" | "agentName">,
): NodeAlias {
  return {
    spiffeId: `spiffe://${s.trustDomain}/ns/${s.namespace}/sa/${s.agentName}`,
    selectors: [
      `k8s_psat:cluster:${s.clusterName}`,
      `k8s_psat:agent_ns:${s.namespace}`,
      `k8s_psat:agent_sa:${s.agentName}`,
    ],
  };
}

/** The selectors that bind a workload's SVID to its own pods' Envoy: namespace, ServiceAccount, labels, container. */
export function workloadSelectors(
  namespace: string,
  serviceAccount: string,
  podLabels: Readonly<Record<string, string>>,
  container = "envoy",
): string[] {
  return [
    `k8s:ns:${namespace}`,
    `k8s:sa:${serviceAccount}`,
    ...Object.entries(podLabels).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
    `k8s:container-name:${container}`,
  ];
}

export interface RegisteredWorkload {
  /** Entry name, e.g. "front" or "colorblue". */
  readonly entryName: string;
  readonly identity: string;
  readonly podLabels: Readonly<Record<string, string>>;
  /** The workload's own ServiceAccount, part of what the SVID is bound to. */
  readonly serviceAccount: string;
}

export interface WalkthroughNames {
  /** The installation's agents. */
  readonly nodeAlias: NodeAlias;
  /** Namespace of the meshed apps. */
  readonly appNamespace: string;
  readonly workloads: readonly RegisteredWorkload[];
  /** Entry names left out (the walkthrough registers colorgreen only in its registerGreen step). */
  readonly unregistered: readonly string[];
  /** SVID lifetime of workload entries. */
  readonly x509SvidTtl: string;
}

/** Entry name -> spec. `spire-agent` is the node alias; workloads are children of it. */
export function walkthroughEntries(n: WalkthroughNames): Record<string, EntrySpec> {
  const entries: Record<string, EntrySpec> = {
    "spire-agent": { spiffeId: n.nodeAlias.spiffeId, node: true, selectors: [...n.nodeAlias.selectors] },
  };
  for (const w of n.workloads) {
    if (n.unregistered.includes(w.entryName)) continue;
    entries[w.entryName] = {
      spiffeId: w.identity,
      parentId: n.nodeAlias.spiffeId,
      // Each workload runs as its own ServiceAccount, and the SVID goes to the sidecar container named "envoy",
      // so neither another workload of the namespace nor the app container itself gets it.
      selectors: workloadSelectors(n.appNamespace, w.serviceAccount, w.podLabels),
      x509SvidTtl: n.x509SvidTtl,
    };
  }
  return entries;
}
