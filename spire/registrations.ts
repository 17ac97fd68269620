/** The walkthrough's registration entries (register_server_entries.sh), built from the mesh's workloads. */
import type { EntrySpec } from "./entries";

export interface RegisteredWorkload {
  /** Entry name, e.g. "front" or "colorblue". */
  readonly entryName: string;
  readonly identity: string;
  readonly podLabels: Readonly<Record<string, string>>;
}

export interface WalkthroughNames {
  readonly trustDomain: string;
  /** k8s_psat cluster name the agents attest with. */
  readonly clusterName: string;
  /** Namespace and ServiceAccount of the SPIRE agents. */
  readonly agentNamespace: string;
  readonly agentServiceAccount: string;
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
  const agentAlias = `spiffe://${n.trustDomain}/ns/${n.agentNamespace}/sa/${n.agentServiceAccount}`;
  const entries: Record<string, EntrySpec> = {
    "spire-agent": {
      spiffeId: agentAlias,
      node: true,
      selectors: [
        `k8s_psat:cluster:${n.clusterName}`,
        `k8s_psat:agent_ns:${n.agentNamespace}`,
        `k8s_psat:agent_sa:${n.agentServiceAccount}`,
      ],
    },
  };
  for (const w of n.workloads) {
    if (n.unregistered.includes(w.entryName)) continue;
    entries[w.entryName] = {
      spiffeId: w.identity,
      parentId: agentAlias,
      // Pods run as the default ServiceAccount; the SVID is bound to the sidecar container named "envoy", so
      // the app container itself never gets one.
      selectors: [
        `k8s:ns:${n.appNamespace}`,
        "k8s:sa:default",
        ...Object.entries(w.podLabels).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
        "k8s:container-name:envoy",
      ],
      x509SvidTtl: n.x509SvidTtl,
    };
  }
  return entries;
}
