/** The walkthrough's registration entries (register_server_entries.sh), built from the mesh's names. */
import type { EntrySpec } from "./entries";

export interface WalkthroughNames {
  readonly trustDomain: string;
  /** k8s_psat cluster name the agents attest with. */
  readonly clusterName: string;
  /** Namespace and ServiceAccount of the SPIRE agents. */
  readonly agentNamespace: string;
  readonly agentServiceAccount: string;
  /** Namespace of the meshed apps. */
  readonly appNamespace: string;
  /** The colour apps, e.g. ["blue", "green", "red"]. */
  readonly colors: readonly string[];
  /** Colours left unregistered (the walkthrough leaves out green until its registerGreen step). */
  readonly unregisteredColors: readonly string[];
  /** SVID lifetime of workload entries. */
  readonly x509SvidTtl: string;
}

/** Entry name -> spec. `spire-agent` is the node alias; workloads are children of it. */
export function walkthroughEntries(n: WalkthroughNames): Record<string, EntrySpec> {
  const td = `spiffe://${n.trustDomain}`;
  const agentAlias = `${td}/ns/${n.agentNamespace}/sa/${n.agentServiceAccount}`;
  // Every SVID is bound to the sidecar container named "envoy", so the app container itself never gets one.
  const workload = (app: string, extra: string[]): EntrySpec => ({
    spiffeId: `${td}/${app}`,
    parentId: agentAlias,
    selectors: [`k8s:ns:${n.appNamespace}`, "k8s:sa:default", ...extra, "k8s:container-name:envoy"],
    x509SvidTtl: n.x509SvidTtl,
  });
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
    front: workload("front", ["k8s:pod-label:app:front"]),
  };
  for (const color of n.colors) {
    if (n.unregisteredColors.includes(color)) continue;
    entries[`color${color}`] = workload(`color${color}`, [
      "k8s:pod-label:app:color",
      `k8s:pod-label:version:${color}`,
    ]);
  }
  return entries;
}
