/**
 * One meshed service as Kubernetes objects: the user's containers in a Deployment with the mesh's sidecar, its
 * own ServiceAccount, its Service and NetworkPolicy, and the registration entry whose selectors follow from what
 * is deployed (namespace, ServiceAccount, a pod label the workload owns, the sidecar's container name). Checks the
 * user's part of the arguments. Pure; components/meshWorkload.ts wires it to SPIRE and the mesh graph.
 */
import { Checker, isDnsLabel, isPort, isReplicaCount, REPLICAS_RULE } from "../core/validation";
import type { EntrySpec } from "../spire/entries";
import { type K8sObject, restrictedContainerSecurity } from "../spire/k8s";
import { workloadSelectors } from "../spire/registrations";
import { ENVOY_ADMIN, envoyPorts } from "./envoyBootstrap";
import { APPMESH_ADMIN_PORT, DataPlane, type PodAdditions } from "./envoySidecar";
import {
  type EgressPeer,
  meshedPodPolicy,
  meshPortOf,
  openPortsOf,
  type PodGroup,
  proxyEgress,
} from "./networkPolicy";
import { ListenerProtocol } from "./virtualNode";

/** A Kubernetes container spec, as the user writes it. */
export type Container = { readonly name: string; readonly image: string } & Readonly<Record<string, unknown>>;

export interface WorkloadSpec {
  readonly name: string;
  readonly namespace: string;
  readonly containers: readonly Container[];
  readonly replicas: number;
  readonly serviceAccount: string;
  readonly port: number;
  readonly protocol: ListenerProtocol;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly serviceName: string;
  /** `<service>.<namespace>.svc.cluster.local`: how callers reach it. */
  readonly hostname: string;
  readonly volumes: readonly Readonly<Record<string, unknown>>[];
  readonly podAnnotations: Readonly<Record<string, string>>;
  readonly drainSeconds: number;
}

/**
 * The workload fields of MeshWorkloadArgs (which documents each, its default and its rule): the spec's, those with
 * a default optional.
 */
export type WorkloadArgs = Pick<WorkloadSpec, "name" | "namespace" | "containers"> &
  Partial<
    Pick<
      WorkloadSpec,
      | "replicas"
      | "serviceAccount"
      | "port"
      | "protocol"
      | "podLabels"
      | "serviceName"
      | "volumes"
      | "podAnnotations"
      | "drainSeconds"
    >
  >;

/** The sidecar's own ports, on either data plane; the app may use none of them. */
const SIDECAR_PORTS = [envoyPorts.ingress, envoyPorts.readiness, APPMESH_ADMIN_PORT];

export function workloadSpec(subject: string, args: WorkloadArgs): WorkloadSpec {
  const c = new Checker(subject);
  c.check(isDnsLabel(args.name), "name", args.name, "must be a Kubernetes name (RFC 1123 label)");
  c.check(isDnsLabel(args.namespace), "namespace", args.namespace, "must be a Kubernetes namespace name");
  const containers = args.containers ?? [];
  c.check(containers.length > 0, "containers", containers, "at least one app container is required");
  const names = new Set<string>();
  for (const [i, container] of containers.entries()) {
    const field = `containers[${i}]`;
    c.check(
      isDnsLabel(container?.name),
      `${field}.name`,
      container?.name,
      "must be a container name (RFC 1123 label)",
    );
    c.check(
      container?.name !== "envoy",
      `${field}.name`,
      container?.name,
      'must not be "envoy": that is the sidecar, and SPIRE gives the SVID to the container of that name',
    );
    c.check(
      !names.has(container?.name),
      `${field}.name`,
      container?.name,
      "repeats another container's name",
    );
    names.add(container?.name);
    c.check(
      typeof container?.image === "string" && container.image !== "",
      `${field}.image`,
      container?.image,
      "is required",
    );
    const ports = (container?.ports ?? []) as readonly { containerPort?: number }[];
    for (const [j, p] of ports.entries()) {
      c.check(
        !SIDECAR_PORTS.includes(p.containerPort as number),
        `${field}.ports[${j}].containerPort`,
        p.containerPort,
        `clashes with the sidecar's ports (${SIDECAR_PORTS.join(", ")})`,
      );
    }
    const mounts = (container?.volumeMounts ?? []) as readonly { name?: string }[];
    for (const [j, m] of mounts.entries()) {
      c.check(
        m?.name !== ENVOY_ADMIN.volume,
        `${field}.volumeMounts[${j}].name`,
        m?.name,
        "must not mount the sidecar's admin socket volume: only Envoy may reach its admin interface",
      );
    }
  }
  const replicas = args.replicas ?? 1;
  c.check(isReplicaCount(replicas), "replicas", replicas, REPLICAS_RULE);
  const serviceAccount = args.serviceAccount ?? args.name;
  c.check(isDnsLabel(serviceAccount), "serviceAccount", serviceAccount, "must be a ServiceAccount name");
  const port = args.port ?? 8080;
  if (c.check(isPort(port), "port", port, "must be an integer port in 1-65535")) {
    c.check(
      !SIDECAR_PORTS.includes(port),
      "port",
      port,
      `clashes with the sidecar's ports (${SIDECAR_PORTS.join(", ")})`,
    );
  }
  const protocol = args.protocol ?? ListenerProtocol.Http;
  const podLabels = args.podLabels ?? { app: args.name };
  c.check(
    Object.keys(podLabels).length > 0,
    "podLabels",
    podLabels,
    "must hold at least one label (the SVID is bound to it)",
  );
  const serviceName = args.serviceName ?? args.name;
  c.check(isDnsLabel(serviceName), "serviceName", serviceName, "must be a Service name (RFC 1123 label)");
  const drainSeconds = args.drainSeconds ?? 5;
  c.check(
    Number.isInteger(drainSeconds) && drainSeconds >= 0 && drainSeconds <= 300,
    "drainSeconds",
    drainSeconds,
    "must be an integer in 0-300",
  );
  c.done();
  return {
    name: args.name,
    namespace: args.namespace,
    containers: [...containers],
    replicas,
    serviceAccount,
    port,
    protocol,
    podLabels: { ...podLabels },
    serviceName,
    hostname: `${serviceName}.${args.namespace}.svc.cluster.local`,
    volumes: [...(args.volumes ?? [])],
    podAnnotations: { ...(args.podAnnotations ?? {}) },
    drainSeconds,
  };
}

/** The entry that gives this workload's sidecar its identity, under the installation's agents. */
export function workloadEntry(
  w: WorkloadSpec,
  identity: string,
  parentId: string,
  x509SvidTtl?: string,
): EntrySpec {
  return {
    spiffeId: identity,
    parentId,
    selectors: workloadSelectors(w.namespace, w.serviceAccount, w.podLabels),
    ...(x509SvidTtl ? { x509SvidTtl } : {}),
  };
}

/** Restricted Pod Security defaults under the user's own settings (theirs win). */
const hardened = (container: Container, drainSeconds: number) => ({
  ...container,
  securityContext: {
    ...restrictedContainerSecurity,
    runAsNonRoot: true,
    ...(container.securityContext ?? {}),
  },
  lifecycle: { preStop: { sleep: { seconds: drainSeconds } }, ...(container.lifecycle ?? {}) },
});

export interface WorkloadObjects {
  readonly serviceAccount: K8sObject;
  readonly deployment: K8sObject;
  readonly service: K8sObject;
  readonly networkPolicy: K8sObject;
}

/** Who reaches a workload and what it reaches, as pods: its NetworkPolicy's sources and destinations. */
export interface WorkloadTraffic {
  /** Its callers' pods. Unset when some caller is not known as pods (or it has none): any source. */
  readonly callers?: readonly PodGroup[];
  /** Its backends at their app ports: their pods, or a port outside the cluster. */
  readonly backends: readonly EgressPeer[];
}

export function workloadObjects(
  w: WorkloadSpec,
  dataPlane: DataPlane,
  traffic: WorkloadTraffic,
  mesh?: PodAdditions,
): WorkloadObjects {
  const envoy = dataPlane === DataPlane.Envoy;
  const annotations = { ...w.podAnnotations, ...(mesh?.annotations ?? {}) };
  const labels = { ...w.podLabels };
  return {
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: w.serviceAccount, namespace: w.namespace },
      automountServiceAccountToken: false,
    },
    deployment: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: w.name, namespace: w.namespace, labels },
      spec: {
        replicas: w.replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
          spec: {
            serviceAccountName: w.serviceAccount,
            automountServiceAccountToken: false,
            // The drain sleep, then time for the app and the sidecar to stop: 30s (Kubernetes' default) at 5s.
            terminationGracePeriodSeconds: w.drainSeconds + 25,
            // Pod-wide only on envoy: App Mesh's injected init container must run as root.
            ...(envoy
              ? { securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } } }
              : {}),
            ...(mesh?.hostAliases.length ? { hostAliases: mesh.hostAliases.map((h) => ({ ...h })) } : {}),
            ...(mesh?.initContainers.length ? { initContainers: [...mesh.initContainers] } : {}),
            containers: w.containers.map((c) => hardened(c, w.drainSeconds)),
            ...(w.volumes.length || mesh?.volumes.length
              ? { volumes: [...w.volumes, ...(mesh?.volumes ?? [])] }
              : {}),
          },
        },
      },
    },
    // On envoy, callers land on the sidecar's mTLS ingress listener, never on the app.
    service: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: w.serviceName, namespace: w.namespace },
      spec: {
        ports: [
          {
            name: portName(w.protocol),
            port: w.port,
            targetPort: envoy ? envoyPorts.ingress : w.port,
            protocol: "TCP",
          },
        ],
        selector: labels,
      },
    },
    // Both directions: its callers' pods on its mesh port (anyone when they are not known as pods), and DNS
    // and its backends out. An app that binds 0.0.0.0 is still unreachable.
    networkPolicy: meshedPodPolicy({
      name: w.name,
      namespace: w.namespace,
      podLabels: labels,
      meshPort: meshPortOf(dataPlane, w.port),
      callers: traffic.callers,
      openPorts: openPortsOf(dataPlane),
      egress: proxyEgress(dataPlane, traffic.backends),
    }),
  };
}

/** The Service port's name, which tells Kubernetes (and App Mesh) the protocol. */
const portName = (p: ListenerProtocol) =>
  p === ListenerProtocol.Tcp
    ? "tcp"
    : p === ListenerProtocol.Grpc
      ? "grpc"
      : p === ListenerProtocol.Http2
        ? "http2"
        : "http";
