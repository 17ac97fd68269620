/**
 * What the self-managed data plane adds to a meshed pod: the Envoy sidecar (named `envoy`, so SPIRE's
 * `k8s:container-name:envoy` selectors match it as they matched App Mesh's), its bootstrap ConfigMap, the agent
 * socket directory, and the host aliases that send the app's backend calls to the sidecar's egress listeners.
 */

import { csiWorkloadApiVolume } from "../spire/csiDriver";
import {
  CONFIG_HASH_ANNOTATION,
  contentHash,
  contentName,
  type K8sObject,
  restrictedContainerSecurity,
} from "../spire/k8s";
import { type BootstrapInput, ENVOY_ADMIN, envoyBootstrap } from "./envoyBootstrap";

export enum DataPlane {
  /** Self-managed Envoy sidecars with App Mesh's mTLS semantics; works on any cluster. */
  Envoy = "envoy",
  /** App Mesh custom resources and its controller's injected sidecars (App Mesh was discontinued 2026-09-30). */
  AppMesh = "appmesh",
}

/** App Mesh's injected Envoy serves its admin on this TCP port (ENVOY_ADMIN_ACCESS_PORT's default); ours, on a Unix socket. */
export const APPMESH_ADMIN_PORT = 9901;

export const ENVOY_IMAGE = "envoyproxy/envoy:v1.39.5";
/** The image's envoy user; iptables-free, so no special UID is needed beyond running unprivileged. */
const ENVOY_UID = 101;

export interface PodAdditions {
  /** The Envoy sidecar, as a native sidecar: an init container that keeps running (restartPolicy Always). */
  readonly initContainers: readonly Record<string, unknown>[];
  readonly volumes: readonly Record<string, unknown>[];
  readonly annotations: Readonly<Record<string, string>>;
  readonly hostAliases: readonly { ip: string; hostnames: string[] }[];
}

/** How the sidecar reaches the agent's Workload API socket directory. */
export type WorkloadApiVolume = { readonly csiDriver: string } | { readonly hostPath: true };

export interface SidecarResult {
  readonly bootstrap: Record<string, unknown>;
  readonly configMap: K8sObject;
  readonly pod: PodAdditions;
}

/** Seconds Envoy keeps serving after the app has exited, so connections in flight finish (preStop). */
export const ENVOY_DRAIN_SECONDS = 5;

/** The bootstrap as an immutable ConfigMap named by its content, and the hash that rolls the pods on change. */
export function bootstrapConfigMap(base: string, namespace: string, bootstrap: Record<string, unknown>) {
  const text = `${JSON.stringify(bootstrap, null, 2)}\n`;
  const configMap: K8sObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: contentName(`${base}-envoy`, text), namespace },
    immutable: true,
    data: { "bootstrap.json": text },
  };
  return { configMap, annotations: { [`${CONFIG_HASH_ANNOTATION}-envoy`]: contentHash(text) } };
}

/** The directory of the agent socket, which is what gets mounted (the socket is recreated on agent restart). */
export const socketDirOf = (socketPath: string) => socketPath.slice(0, socketPath.lastIndexOf("/")) || "/";

export interface EnvoyContainerInput {
  readonly image: string;
  readonly sdsSocketPath: string;
  /** Container ports: the traffic port(s), then `ready` (the readiness listener's). */
  readonly ports: readonly { readonly name: string; readonly containerPort: number }[];
  /** More read-only mounts, e.g. an edge certificate's Secret. */
  readonly extraMounts?: readonly { readonly name: string; readonly mountPath: string }[];
}

/**
 * The Envoy container, named `envoy` so SPIRE's `k8s:container-name:envoy` selectors give it the SVID: the
 * bootstrap and the agent socket mounted read-only, its admin socket's directory writable and its own, readiness
 * from Envoy's own /ready, restricted security.
 * A sidecar runs it as a native sidecar; a gateway as its pod's only container.
 */
export function envoyContainer(c: EnvoyContainerInput): Record<string, unknown> {
  const readiness = { httpGet: { path: "/ready", port: "ready" } };
  return {
    name: "envoy",
    image: c.image,
    // No hot restart: it needs shared memory across container restarts, and the root filesystem is read-only.
    args: ["-c", "/etc/envoy/bootstrap.json", "--log-level", "info", "--disable-hot-restart"],
    ports: c.ports.map((p) => ({ ...p, protocol: "TCP" })),
    // Ten minutes for SPIRE to register the workload before the kubelet restarts Envoy and waits again.
    startupProbe: { ...readiness, periodSeconds: 2, failureThreshold: 300 },
    readinessProbe: { ...readiness, periodSeconds: 5, failureThreshold: 3 },
    lifecycle: { preStop: { sleep: { seconds: ENVOY_DRAIN_SECONDS } } },
    resources: {
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { cpu: "500m", memory: "256Mi" },
    },
    securityContext: {
      ...restrictedContainerSecurity,
      runAsNonRoot: true,
      runAsUser: ENVOY_UID,
      runAsGroup: ENVOY_UID,
    },
    volumeMounts: [
      { name: "envoy-bootstrap", mountPath: "/etc/envoy", readOnly: true },
      { name: "spire-agent-socket", mountPath: socketDirOf(c.sdsSocketPath), readOnly: true },
      { name: ENVOY_ADMIN.volume, mountPath: ENVOY_ADMIN.dir },
      ...(c.extraMounts ?? []).map((m) => ({ ...m, readOnly: true })),
    ],
  };
}

/**
 * The pod volumes the Envoy container mounts: its bootstrap ConfigMap, the agent socket directory, and the
 * directory of its admin socket (in memory: a socket needs no disk; no other container mounts it).
 */
export function envoyVolumes(
  configMapName: string,
  sdsSocketPath: string,
  workloadApi: WorkloadApiVolume,
): Record<string, unknown>[] {
  return [
    { name: "envoy-bootstrap", configMap: { name: configMapName } },
    "csiDriver" in workloadApi
      ? csiWorkloadApiVolume("spire-agent-socket", workloadApi.csiDriver)
      : // The agent DaemonSet creates this directory; Directory (not OrCreate) makes a missing agent visible.
        { name: "spire-agent-socket", hostPath: { path: socketDirOf(sdsSocketPath), type: "Directory" } },
    { name: ENVOY_ADMIN.volume, emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
  ];
}

export function envoySidecar(
  input: BootstrapInput,
  image: string,
  workloadApi: WorkloadApiVolume,
): SidecarResult {
  const bootstrap = envoyBootstrap(input);
  const { configMap, annotations } = bootstrapConfigMap(input.node.name, input.node.namespace, bootstrap);
  return {
    bootstrap,
    configMap,
    pod: {
      initContainers: [
        // A native sidecar: it starts before the app, which waits for its startup probe (Envoy live, identity
        // delivered), and stops after the app has exited, so neither start-up nor shutdown races the app.
        {
          ...envoyContainer({
            image,
            sdsSocketPath: input.sdsSocketPath,
            ports: [
              { name: "mesh", containerPort: input.ports.ingress },
              { name: "ready", containerPort: input.ports.readiness },
            ],
          }),
          restartPolicy: "Always",
        },
      ],
      volumes: envoyVolumes(configMap.metadata.name, input.sdsSocketPath, workloadApi),
      annotations,
      hostAliases: input.egress.map((e) => ({ ip: e.listenAddress, hostnames: [e.hostname] })),
    },
  };
}
