/**
 * The demo's own objects (its namespace, app code, the `color` virtual service's DNS name, and on the appmesh
 * data plane its App Mesh mesh, router and virtual service) and each workload's app container. The workloads'
 * Deployments, Services, accounts and policies are MeshWorkload's (mesh/workload.ts).
 */
import { appSources } from "../app/sources";
import {
  CONFIG_HASH_ANNOTATION,
  contentHash,
  type K8sObject,
  restrictedContainerSecurity,
} from "../spire/k8s";
import { type ColorAppSpec, hostOf, routeName } from "./colorApp";
import { DataPlane } from "./envoySidecar";
import type { Container } from "./workload";

export interface AppPart {
  readonly containers: readonly Container[];
  readonly volumes: readonly Record<string, unknown>[];
  readonly podAnnotations: Readonly<Record<string, string>>;
}

export interface ColorAppObjects {
  /** appmesh only. */
  readonly virtualRouter?: K8sObject;
  readonly virtualService?: K8sObject;
  readonly code: K8sObject;
  /** Selectorless: exists only so the virtual service's name resolves in DNS; the mesh routes the traffic. */
  readonly colorService: K8sObject;
  /** Per workload: its app container, the code volume and the code hash that rolls it. */
  readonly apps: Readonly<Record<string, AppPart>>;
}

const CODE_CONFIGMAP = "colorapp-code";
const codeConfigMap = (codeHash: string) => `${CODE_CONFIGMAP}-${codeHash.slice(0, 10)}`;

function app(
  s: ColorAppSpec,
  file: string,
  env: Record<string, string>,
  image: string | undefined,
  codeHash: string,
): AppPart {
  const fromConfigMap = image === undefined;
  const envoy = s.dataPlane === DataPlane.Envoy;
  const all = { PORT: String(s.port), ...env, ...(envoy ? { BIND_ADDRESS: "127.0.0.1" } : {}) };
  return {
    containers: [
      {
        name: "app",
        image: image ?? s.nodeImage,
        ...(fromConfigMap ? { command: ["node", `/app/${file}`] } : {}),
        // On envoy the app listens on loopback only; only the sidecar's ports are exposed.
        ...(envoy ? {} : { ports: [{ name: "http", containerPort: s.port, protocol: "TCP" }] }),
        env: Object.entries(all).map(([name, value]) => ({ name, value })),
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
        // Container-level on appmesh: the App Mesh injector adds an init container that needs root and NET_ADMIN.
        securityContext: { ...restrictedContainerSecurity, runAsNonRoot: true, runAsUser: 1000 },
        ...(fromConfigMap ? { volumeMounts: [{ name: "app-code", mountPath: "/app", readOnly: true }] } : {}),
      },
    ],
    volumes: fromConfigMap ? [{ name: "app-code", configMap: { name: codeConfigMap(codeHash) } }] : [],
    podAnnotations: fromConfigMap ? { [CONFIG_HASH_ANNOTATION]: codeHash } : {},
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
export function colorAppNamespace(s: ColorAppSpec, workloadApi: "csi" | "hostPath"): K8sObject {
  const appMesh = s.dataPlane === DataPlane.AppMesh;
  const restricted = !appMesh && workloadApi === "csi";
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

export function colorAppObjects(s: ColorAppSpec): ColorAppObjects {
  const sources = appSources();
  const codeHash = contentHash(...Object.entries(sources).flat());
  const colorHost = `${hostOf(s, s.virtualService)}:${s.port}`;
  const apps: Record<string, AppPart> = {
    [s.front.name]: app(s, "front-app.js", { COLOR_HOST: colorHost }, s.frontImage, codeHash),
  };
  for (const w of s.colorWorkloads) {
    apps[w.name] = app(s, "color-app.js", { COLOR: w.podLabels.version }, s.colorImage, codeHash);
  }
  return {
    ...(s.dataPlane === DataPlane.AppMesh ? appMeshObjects(s) : {}),
    code: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: codeConfigMap(codeHash), namespace: s.namespace },
      immutable: true,
      data: { ...sources },
    },
    colorService: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: s.virtualService, namespace: s.namespace },
      spec: { ports: [{ name: "http", port: s.port, targetPort: s.port, protocol: "TCP" }] },
    },
    apps,
  };
}
