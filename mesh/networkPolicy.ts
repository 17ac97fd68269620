/**
 * NetworkPolicies of meshed pods, both directions, from the mesh's own wiring: a pod admits its known callers'
 * pods on its mesh port, and reaches DNS and its own backends, nothing else. Rules are unions: a user who needs
 * more (an app's database, say) adds a policy of their own beside these. Pure: no Pulumi.
 *
 * Readiness ports stay open to any source: Kubernetes says a pod's own node may always reach it, but kubelet
 * probes have been blocked by several implementations (aws-network-policy-agent#56, kube-network-policies#150,
 * cilium#37317, k3s#10030), and those listeners answer only Envoy's own readiness.
 */
import type { K8sObject } from "../spire/k8s";
import { type EgressPeer, isolatedPodPolicy, type PodGroup, peerOf, tcpPorts } from "../spire/networkPolicy";

export type { EgressPeer, PodGroup } from "../spire/networkPolicy";

import { envoyPorts } from "./envoyBootstrap";
import { DataPlane } from "./envoySidecar";

export interface MeshedPodPolicyArgs {
  readonly name: string;
  readonly namespace: string;
  readonly podLabels: Readonly<Record<string, string>>;
  /** Where mesh traffic arrives. */
  readonly meshPort: number;
  /** Who may send it. Unset: callers not known as pods (an edge, PERMISSIVE, a peer cluster): any source. */
  readonly callers?: readonly PodGroup[];
  /** Ports any source may reach: readiness listeners, a gateway's edge listener. */
  readonly openPorts?: readonly number[];
  /** Its backends; DNS is always added. */
  readonly egress: readonly EgressPeer[];
}

/** App Mesh's Envoy streams its configuration from the regional management endpoint over TLS (and STS). */
export const APP_MESH_MANAGEMENT_PORT = 443;

/** One meshed pod's policy: its callers' pods (or anyone) on its mesh port, open ports to anyone; DNS and egress out. */
export function meshedPodPolicy(a: MeshedPodPolicyArgs): K8sObject {
  const open = a.callers === undefined ? [a.meshPort, ...(a.openPorts ?? [])] : [...(a.openPorts ?? [])];
  return isolatedPodPolicy({
    name: a.name,
    namespace: a.namespace,
    podLabels: a.podLabels,
    ingress: [
      ...(a.callers !== undefined && a.callers.length > 0
        ? [{ from: a.callers.map(peerOf), ...tcpPorts([a.meshPort]) }]
        : []),
      ...(open.length > 0 ? [tcpPorts(open)] : []),
    ],
    egress: a.egress,
  });
}

/**
 * Where a node's pods take mesh traffic, as a NetworkPolicy sees it: envoy's ingress listener (its Service
 * targets it); on App Mesh the app's own port, since the injected iptables redirect to Envoy happens inside the
 * pod, after the policy has matched.
 */
export const meshPortOf = (dataPlane: DataPlane, appPort: number): number =>
  dataPlane === DataPlane.Envoy ? envoyPorts.ingress : appPort;

/** Ports any source may reach on a plane's pods: envoy's readiness listener (App Mesh probes by exec). */
export const openPortsOf = (dataPlane: DataPlane): number[] =>
  dataPlane === DataPlane.Envoy ? [envoyPorts.readiness] : [];

/**
 * A proxy's egress: its backends (given at their app ports) where their pods take mesh traffic, and on App Mesh
 * the management endpoint the injected Envoy streams its configuration from.
 */
export const proxyEgress = (dataPlane: DataPlane, backends: readonly EgressPeer[]): EgressPeer[] => [
  ...backends.map((b) => (b.pods ? { ...b, port: meshPortOf(dataPlane, b.port) } : b)),
  ...(dataPlane === DataPlane.AppMesh ? [{ port: APP_MESH_MANAGEMENT_PORT }] : []),
];
