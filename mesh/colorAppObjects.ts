/**
 * The demo's Kubernetes objects, and on the appmesh data plane its App Mesh mesh, router and virtual service.
 * On the envoy data plane each pod also gets its node's sidecar, the app listens on loopback only, and Services
 * send traffic to the sidecar's ingress port, so nothing reaches an app around its sidecar.
 */
import { appSources } from "../app/sources";
import {
  CONFIG_HASH_ANNOTATION,
  contentHash,
  type K8sObject,
  restrictedContainerSecurity,
} from "../spire/k8s";
import { type ColorAppSpec, hostOf, routeName, type Workload } from "./colorApp";
import { envoyPorts } from "./envoyBootstrap";
import { DataPlane, type PodAdditions } from "./envoySidecar";

export interface ColorAppObjects {
  /** appmesh only. */
  readonly virtualRouter?: K8sObject;
  readonly virtualService?: K8sObject;
  readonly code: K8sObject;
  readonly serviceAccounts: Readonly<Record<string, K8sObject>>;
  readonly services: Readonly<Record<string, K8sObject>>;
  readonly deployments: Readonly<Record<string, K8sObject>>;
  /** envoy only: each meshed pod admits its sidecar's ports and nothing else. */
  readonly networkPolicies: Readonly<Record<string, K8sObject>>;
}

const CODE_CONFIGMAP = "colorapp-code";
const codeConfigMap = (codeHash: string) => `${CODE_CONFIGMAP}-${codeHash.slice(0, 10)}`;
const noAdditions: PodAdditions = { initContainers: [], volumes: [], annotations: {}, hostAliases: [] };
/** Seconds the app keeps serving after deletion starts, while its endpoint is removed from every Service. */
const APP_DRAIN_SECONDS = 5;

interface AppContainer {
  readonly file: string;
  readonly env: Record<string, string>;
  readonly image?: string;
}

function deployment(
  s: ColorAppSpec,
  w: Workload,
  app: AppContainer,
  codeHash: string,
  mesh: PodAdditions,
): K8sObject {
  const fromConfigMap = app.image === undefined;
  const envoy = s.dataPlane === DataPlane.Envoy;
  const env = { PORT: String(s.port), ...app.env, ...(envoy ? { BIND_ADDRESS: "127.0.0.1" } : {}) };
  const annotations = {
    ...(fromConfigMap ? { [CONFIG_HASH_ANNOTATION]: codeHash } : {}),
    ...mesh.annotations,
  };
  const container = {
    name: "app",
    image: app.image ?? s.nodeImage,
    ...(fromConfigMap ? { command: ["node", `/app/${app.file}`] } : {}),
    // On envoy the app listens on loopback only; only the sidecar's ports are exposed.
    ...(envoy ? {} : { ports: [{ name: "http", containerPort: s.port, protocol: "TCP" }] }),
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
    // Container-level on appmesh: the App Mesh injector adds an init container that needs root and NET_ADMIN.
    securityContext: { ...restrictedContainerSecurity, runAsNonRoot: true, runAsUser: 1000 },
    // Keep serving while the endpoint goes away (the drain); the sidecar outlives the app and stops last.
    lifecycle: { preStop: { sleep: { seconds: APP_DRAIN_SECONDS } } },
    ...(fromConfigMap ? { volumeMounts: [{ name: "app-code", mountPath: "/app", readOnly: true }] } : {}),
  };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: w.name, namespace: s.namespace, labels: { ...w.podLabels } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { ...w.podLabels } },
      template: {
        metadata: {
          labels: { ...w.podLabels },
          ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
        },
        spec: {
          serviceAccountName: w.serviceAccount,
          // The apps never call the Kubernetes API; on appmesh the injected Envoy needs no token either.
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 30,
          // Pod-wide only on envoy: App Mesh's injected init container must run as root.
          ...(envoy
            ? { securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } } }
            : {}),
          ...(mesh.hostAliases.length > 0 ? { hostAliases: mesh.hostAliases.map((h) => ({ ...h })) } : {}),
          ...(mesh.initContainers.length > 0 ? { initContainers: [...mesh.initContainers] } : {}),
          containers: [container],
          volumes: [
            ...(fromConfigMap ? [{ name: "app-code", configMap: { name: codeConfigMap(codeHash) } }] : []),
            ...mesh.volumes,
          ],
        },
      },
    },
  };
}

/** The workload's own ServiceAccount; no token is mounted from it (automountServiceAccountToken false). */
const serviceAccount = (s: ColorAppSpec, w: Workload): K8sObject => ({
  apiVersion: "v1",
  kind: "ServiceAccount",
  metadata: { name: w.serviceAccount, namespace: s.namespace },
  automountServiceAccountToken: false,
});

/** Only the sidecar's mesh and readiness ports admit traffic: an app that ignores BIND_ADDRESS is still unreachable. */
const networkPolicy = (s: ColorAppSpec, w: Workload): K8sObject => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { name: w.name, namespace: s.namespace },
  spec: {
    podSelector: { matchLabels: { ...w.podLabels } },
    policyTypes: ["Ingress"],
    ingress: [
      {
        ports: [
          { protocol: "TCP", port: envoyPorts.ingress },
          { protocol: "TCP", port: envoyPorts.readiness },
        ],
      },
    ],
  },
});

function service(s: ColorAppSpec, name: string, selector?: Readonly<Record<string, string>>): K8sObject {
  // On envoy, callers land on the sidecar's mTLS ingress listener, never on the app.
  const targetPort = s.dataPlane === DataPlane.Envoy && selector ? envoyPorts.ingress : s.port;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: s.namespace },
    spec: {
      ports: [{ name: "http", port: s.port, targetPort, protocol: "TCP" }],
      ...(selector ? { selector: { ...selector } } : {}),
    },
  };
}

/** appmesh only: the mesh, selecting the apps' namespace by its `mesh` label. */
export function colorAppMesh(s: ColorAppSpec): K8sObject | undefined {
  if (s.dataPlane !== DataPlane.AppMesh) return undefined;
  return {
    apiVersion: "appmesh.k8s.aws/v1beta2",
    kind: "Mesh",
    metadata: { name: s.meshName },
    spec: { namespaceSelector: { matchLabels: { mesh: s.meshName } } },
  };
}

function appMeshObjects(s: ColorAppSpec) {
  return {
    virtualRouter: {
      apiVersion: "appmesh.k8s.aws/v1beta2",
      kind: "VirtualRouter",
      metadata: { name: s.virtualService, namespace: s.namespace },
      spec: {
        listeners: [{ portMapping: { port: s.port, protocol: "http" } }],
        routes: s.colorWorkloads.map((w, i) => ({
          name: routeName(s, w.name),
          priority: (i + 1) * 10,
          httpRoute: {
            match: { prefix: "/", headers: [{ name: s.routeHeader, match: { exact: w.podLabels.version } }] },
            action: { weightedTargets: [{ virtualNodeRef: { name: w.name }, weight: 1 }] },
          },
        })),
      },
    },
    virtualService: {
      apiVersion: "appmesh.k8s.aws/v1beta2",
      kind: "VirtualService",
      metadata: { name: s.virtualService, namespace: s.namespace },
      spec: {
        awsName: hostOf(s, s.virtualService),
        provider: { virtualRouter: { virtualRouterRef: { name: s.virtualService } } },
      },
    },
  } satisfies Record<string, K8sObject>;
}

/**
 * The apps' namespace. On envoy with the CSI driver its pods meet Pod Security `restricted`, which the namespace
 * enforces. With a hostPath socket (App Mesh's injector mounts one, and adds a root init container with
 * NET_ADMIN) no level below `privileged` admits them, so no level is set.
 */
export function colorAppNamespace(s: ColorAppSpec): K8sObject {
  const appMesh = s.dataPlane === DataPlane.AppMesh;
  const restricted = !appMesh && s.workloadApi !== undefined && "csiDriver" in s.workloadApi;
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: s.namespace,
      labels: {
        mesh: s.meshName,
        ...(appMesh ? { "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled" } : {}),
        ...(restricted
          ? {
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/warn": "restricted",
              "pod-security.kubernetes.io/audit": "restricted",
            }
          : {}),
      },
    },
  };
}

/** `pods` holds each workload's sidecar additions on the envoy data plane (from its MtlsVirtualNode). */
export function colorAppObjects(
  s: ColorAppSpec,
  pods: Readonly<Record<string, PodAdditions>> = {},
): ColorAppObjects {
  const sources = appSources();
  const codeHash = contentHash(...Object.entries(sources).flat());
  const mesh = (w: Workload) => pods[w.name] ?? noAdditions;
  const services: Record<string, K8sObject> = {
    [s.front.name]: service(s, s.front.service, s.front.podLabels),
    // Selectorless: exists only so the virtual service's name resolves in DNS; the sidecar routes the traffic.
    [s.virtualService]: service(s, s.virtualService),
  };
  const colorHost = `${hostOf(s, s.virtualService)}:${s.port}`;
  const deployments: Record<string, K8sObject> = {
    [s.front.name]: deployment(
      s,
      s.front,
      { file: "front-app.js", env: { COLOR_HOST: colorHost }, image: s.frontImage },
      codeHash,
      mesh(s.front),
    ),
  };
  for (const w of s.colorWorkloads) {
    services[w.name] = service(s, w.service, w.podLabels);
    deployments[w.name] = deployment(
      s,
      w,
      { file: "color-app.js", env: { COLOR: w.podLabels.version }, image: s.colorImage },
      codeHash,
      mesh(w),
    );
  }
  const envoy = s.dataPlane === DataPlane.Envoy;
  const all = [s.front, ...s.colorWorkloads];
  return {
    ...(s.dataPlane === DataPlane.AppMesh ? appMeshObjects(s) : {}),
    serviceAccounts: Object.fromEntries(all.map((w) => [w.name, serviceAccount(s, w)])),
    networkPolicies: envoy ? Object.fromEntries(all.map((w) => [w.name, networkPolicy(s, w)])) : {},
    code: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: codeConfigMap(codeHash), namespace: s.namespace },
      immutable: true,
      data: { ...sources },
    },
    services,
    deployments,
  };
}
