/**
 * A NetworkPolicy evaluator for rendered objects (networking.k8s.io/v1 semantics): whether a connection from one
 * endpoint to another on a port is allowed, from the policies alone. It models matchLabels selectors, numeric
 * ports, policyTypes (and their default) and peers without `to`/`from`; anything else it does not model
 * (matchExpressions, ipBlock, named ports, endPort) makes it throw rather than guess.
 */
import type { KubeObject } from "./render";

export interface Pod {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly hostNetwork?: boolean;
}

/** A pod, or an address outside the cluster's pods (an API server, a peer cluster, the internet). */
export type Endpoint = { readonly pod: Pod } | { readonly external: string };

export type Direction = "Ingress" | "Egress";

// biome-ignore lint/suspicious/noExplicitAny: policies are plain JSON.
type Json = any;

function matches(selector: Json, labels: Readonly<Record<string, string>>, what: string): boolean {
  if (selector === undefined || selector === null) return true;
  for (const key of Object.keys(selector)) {
    if (key !== "matchLabels") throw new Error(`${what}: selector field ${key} is not modelled`);
  }
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

export const policyTypes = (p: KubeObject): Direction[] =>
  p.spec.policyTypes ?? ["Ingress", ...(p.spec.egress ? (["Egress"] as const) : [])];

const nameOf = (p: KubeObject) => `NetworkPolicy ${p.metadata.namespace}/${p.metadata.name}`;

export function selects(p: KubeObject, pod: Pod): boolean {
  if (pod.hostNetwork) return false;
  return p.metadata.namespace === pod.namespace && matches(p.spec.podSelector, pod.labels, nameOf(p));
}

export class PolicySet {
  constructor(
    readonly policies: readonly KubeObject[],
    /** Labels of the namespaces the render creates; every other namespace has only its name label. */
    private readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>,
  ) {}

  labelsOfNamespace(ns: string): Record<string, string> {
    return { ...(this.namespaceLabels.get(ns) ?? {}), "kubernetes.io/metadata.name": ns };
  }

  selecting(pod: Pod, direction: Direction): KubeObject[] {
    return this.policies.filter((p) => selects(p, pod) && policyTypes(p).includes(direction));
  }

  private peerMatches(p: KubeObject, peer: Json, other: Endpoint): boolean {
    for (const key of Object.keys(peer)) {
      if (key !== "podSelector" && key !== "namespaceSelector")
        throw new Error(`${nameOf(p)}: peer field ${key} is not modelled`);
    }
    if (!("pod" in other)) return false;
    const inNamespace =
      peer.namespaceSelector === undefined
        ? other.pod.namespace === p.metadata.namespace
        : matches(peer.namespaceSelector, this.labelsOfNamespace(other.pod.namespace), nameOf(p));
    return inNamespace && matches(peer.podSelector, other.pod.labels, nameOf(p));
  }

  private portMatches(p: KubeObject, ports: Json, port: number, protocol: string): boolean {
    if (ports === undefined || ports.length === 0) return true;
    return ports.some((x: Json) => {
      if (typeof x.port !== "number" || x.endPort !== undefined)
        throw new Error(`${nameOf(p)}: port ${JSON.stringify(x)} is not modelled`);
      return x.port === port && (x.protocol ?? "TCP") === protocol;
    });
  }

  /** Whether `subject`'s policies let `other` in (Ingress) or let it reach `other` (Egress). */
  allows(direction: Direction, subject: Pod, other: Endpoint, port: number, protocol = "TCP"): boolean {
    const applying = this.selecting(subject, direction);
    if (applying.length === 0) return true;
    const field = direction === "Ingress" ? "ingress" : "egress";
    const peersField = direction === "Ingress" ? "from" : "to";
    return applying.some((p) =>
      (p.spec[field] ?? []).some(
        (rule: Json) =>
          (rule[peersField] === undefined ||
            rule[peersField].length === 0 ||
            rule[peersField].some((peer: Json) => this.peerMatches(p, peer, other))) &&
          this.portMatches(p, rule.ports, port, protocol),
      ),
    );
  }

  /** Both ends must allow it: the source's egress and the destination's ingress. */
  connects(from: Endpoint, to: Endpoint, port: number, protocol = "TCP"): boolean {
    return (
      (!("pod" in from) || this.allows("Egress", from.pod, to, port, protocol)) &&
      (!("pod" in to) || this.allows("Ingress", to.pod, from, port, protocol))
    );
  }
}

export function policySet(objects: readonly KubeObject[]): PolicySet {
  const namespaces = new Map(
    objects.filter((o) => o.kind === "Namespace").map((o) => [o.metadata.name, o.metadata.labels ?? {}]),
  );
  return new PolicySet(
    objects.filter((o) => o.kind === "NetworkPolicy"),
    namespaces,
  );
}
