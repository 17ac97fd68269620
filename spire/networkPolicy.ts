/**
 * NetworkPolicy building blocks (pods by namespace and labels, DNS, default-deny, a pod isolated in both
 * directions) and the SPIRE server's policy. Rules are unions: a user who needs more adds a policy of their own
 * beside these. Pure: no Pulumi.
 */
import type { K8sObject } from "./k8s";
import type { SpireSettings } from "./settings";

/** Pods by namespace and labels: a caller a policy admits, or a backend it reaches. */
export interface PodGroup {
  readonly namespace: string;
  readonly podLabels: Readonly<Record<string, string>>;
}

/** A backend as egress: its pods in this cluster on a port, or (no pods) that port at any address. */
export interface EgressPeer {
  readonly port: number;
  /** Unset: outside the cluster (a federated peer's address is not known here), so any address. */
  readonly pods?: PodGroup;
}

/** The label every namespace carries (Kubernetes 1.22+): selects a namespace by name without labelling it. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** The cluster DNS: kube-dns or CoreDNS, which keeps the `k8s-app: kube-dns` label (kubeadm, EKS, GKE). */
export const CLUSTER_DNS: PodGroup = { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } };

export const peerOf = (g: PodGroup) => ({
  namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: g.namespace } },
  podSelector: { matchLabels: { ...g.podLabels } },
});

const tcp = (port: number) => ({ protocol: "TCP", port });

/** Name lookups of the sidecar (its STRICT_DNS clusters) and the app: UDP and TCP 53 to the cluster DNS. */
export const dnsEgress = () => ({
  to: [peerOf(CLUSTER_DNS)],
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
});

/** One rule per destination: pods on their port, or the port alone for a destination outside the cluster. */
export function egressRules(peers: readonly EgressPeer[]): Record<string, unknown>[] {
  const seen = new Set<string>();
  const rules: Record<string, unknown>[] = [];
  for (const p of peers) {
    const rule = p.pods ? { to: [peerOf(p.pods)], ports: [tcp(p.port)] } : { ports: [tcp(p.port)] };
    const key = JSON.stringify(rule);
    if (seen.has(key)) continue;
    seen.add(key);
    rules.push(rule);
  }
  return rules;
}

/** Every pod of a namespace the library creates: nothing in, nothing out, until a pod's own policy says so. */
export function defaultDenyPolicy(namespace: string): K8sObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "default-deny", namespace },
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  };
}

export interface IsolatedPodArgs {
  readonly name: string;
  readonly namespace: string;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly ingress: readonly Record<string, unknown>[];
  /** DNS is always added. */
  readonly egress: readonly EgressPeer[];
}

/** A policy that isolates its pods both ways: in a namespace not ours, their default-deny without touching others. */
export function isolatedPodPolicy(a: IsolatedPodArgs): K8sObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: a.name, namespace: a.namespace },
    spec: {
      podSelector: { matchLabels: { ...a.podLabels } },
      policyTypes: ["Ingress", "Egress"],
      ingress: [...a.ingress],
      egress: [dnsEgress(), ...egressRules(a.egress)],
    },
  };
}

export const tcpPorts = (ports: readonly number[]) => ({ ports: [...new Set(ports)].map(tcp) });

/**
 * The API server as a pod sees it after the `kubernetes` Service's DNAT: its endpoints (outside the pod network on
 * EKS and kubeadm alike), on 443 (EKS, GKE, AKS) or 6443 (kubeadm, kind). Their addresses are not known here.
 */
export const API_SERVER_PORTS = [443, 6443];
/** PostgreSQL's port: the connection string is a secret the render cannot read. */
export const POSTGRES_PORT = 5432;

const urlPort = (url: string): number => {
  try {
    const u = new URL(url);
    return u.port ? Number(u.port) : u.protocol === "http:" ? 80 : 443;
  } catch {
    return 443;
  }
};

/**
 * The SPIRE server's policy. In: agents (host network, so sources a NetworkPolicy cannot select portably) on its
 * gRPC port, the kubelet's probes, Prometheus, and federated peers on the bundle endpoint. Out: DNS, the API
 * server (k8s_psat's TokenReview and lookups, the k8sbundle notifier), the datastore, federated peers' bundle
 * endpoints, and ACM PCA (on 443, which the API server already has).
 */
export function spireServerNetworkPolicy(s: SpireSettings, bundlePorts: readonly number[]): K8sObject {
  return isolatedPodPolicy({
    name: s.serverName,
    namespace: s.namespace,
    podLabels: { app: s.serverName },
    ingress: [
      tcpPorts([
        s.serverPort,
        s.serverHealthPort,
        ...(s.telemetry ? [s.telemetry.serverPort] : []),
        // Federation: peers in other clusters fetch the bundle (public certificates only).
        ...bundlePorts,
      ]),
    ],
    egress: [
      ...API_SERVER_PORTS.map((port) => ({ port })),
      ...(s.datastore.type === "postgres" ? [{ port: POSTGRES_PORT }] : []),
      ...(s.federation?.federatesWith ?? []).map((p) => ({ port: urlPort(p.bundleEndpointUrl) })),
    ],
  });
}
