/**
 * The walkthrough's demo: front calls virtual service `color`, whose router sends requests to blue, green or red
 * by the `color_header` header. Builds the names, identities, service graph and Kubernetes/App Mesh objects.
 */
import { appSources } from "../app/sources";
import {
  CONFIG_HASH_ANNOTATION,
  contentHash,
  type K8sObject,
  restrictedContainerSecurity,
} from "../spire/k8s";
import { isImageRef } from "../spire/settings";
import { parseTrustDomain } from "../spire/spiffeId";
import { Checker, isDnsLabel, isDnsSubdomain } from "../spire/validation";
import { callerIdentities, type MeshGraph, serverIdentities } from "./serviceGraph";
import { TlsMode, type VirtualNodeArgs } from "./virtualNode";

export interface ColorAppArgs {
  /** Namespace of the apps. Default "howto-k8s-mtls-sds-based". */
  readonly namespace?: string;
  /** Mesh name. Default "howto-k8s-mtls-sds-based". */
  readonly meshName?: string;
  /** SPIFFE trust domain of the identities. Default "howto-k8s-mtls-sds-based.aws". */
  readonly trustDomain?: string;
  /** Colour apps behind the router, in route priority order. Default ["blue", "green", "red"]. */
  readonly colors?: readonly string[];
  /** Header the router matches. Default "color_header". */
  readonly routeHeader?: string;
  /** Stock Node.js image that runs the apps from a ConfigMap. Default "node:20-alpine". */
  readonly nodeImage?: string;
  /** A custom front image instead (runs its own command; the ConfigMap code is not mounted). */
  readonly frontImage?: string;
  /** A custom colour-app image instead. */
  readonly colorImage?: string;
  /**
   * SPIFFE IDs that have a SPIRE entry in this stack. Nodes whose own or peer identity is missing warn at
   * preview: mTLS to or from them fails until it is registered.
   */
  readonly registeredIdentities?: readonly string[];
}

export interface Workload {
  /** Kubernetes name of the Deployment and VirtualNode, e.g. "blue". */
  readonly name: string;
  /** Entry name of its identity in the walkthrough's registration script, e.g. "colorblue". */
  readonly entryName: string;
  readonly identity: string;
  readonly podLabels: Readonly<Record<string, string>>;
  /** Its Kubernetes Service. */
  readonly service: string;
}

export interface ColorAppSpec {
  readonly namespace: string;
  readonly meshName: string;
  readonly trustDomain: string;
  readonly colors: readonly string[];
  readonly routeHeader: string;
  readonly nodeImage: string;
  readonly frontImage?: string;
  readonly colorImage?: string;
  readonly registeredIdentities?: readonly string[];
  readonly front: Workload;
  readonly colorWorkloads: readonly Workload[];
  readonly virtualService: string;
  readonly port: number;
}

const VIRTUAL_SERVICE = "color";
const PORT = 8080;

export function colorAppSpec(args: ColorAppArgs = {}): ColorAppSpec {
  const c = new Checker("ColorApp");
  const namespace = args.namespace ?? "howto-k8s-mtls-sds-based";
  c.check(
    isDnsLabel(namespace),
    "namespace",
    namespace,
    "must be a Kubernetes namespace name (RFC 1123 label)",
  );
  const meshName = args.meshName ?? "howto-k8s-mtls-sds-based";
  c.check(
    isDnsSubdomain(meshName) && meshName.length <= 63,
    "meshName",
    meshName,
    "must be a lowercase DNS name of at most 63 characters",
  );
  const trustDomain = args.trustDomain ?? "howto-k8s-mtls-sds-based.aws";
  c.attempt("trustDomain", trustDomain, () => parseTrustDomain(trustDomain));
  const colors = [...(args.colors ?? ["blue", "green", "red"])];
  if (
    c.check(
      colors.length >= 1 && colors.length <= 10,
      "colors",
      colors,
      "must list 1-10 colours (a route has at most 10 targets)",
    )
  ) {
    for (const [i, color] of colors.entries()) {
      const usable = isDnsLabel(color) && color.length <= 40;
      c.check(
        usable,
        `colors[${i}]`,
        color,
        "must be a lowercase name usable in Kubernetes and SPIFFE names",
      );
    }
    c.check(new Set(colors).size === colors.length, "colors", colors, "must not repeat a colour");
    c.check(!colors.includes("front"), "colors", colors, 'must not contain "front" (the front app\'s name)');
  }
  const routeHeader = args.routeHeader ?? "color_header";
  c.check(
    /^[a-z0-9_-]{1,50}$/.test(routeHeader),
    "routeHeader",
    routeHeader,
    "must be a lowercase HTTP header name of 1-50 characters",
  );
  const nodeImage = args.nodeImage ?? "node:20-alpine";
  for (const [field, image] of [
    ["nodeImage", nodeImage],
    ["frontImage", args.frontImage],
    ["colorImage", args.colorImage],
  ] as const) {
    if (image !== undefined)
      c.check(isImageRef(image), field, image, "must be an image reference such as repo/name:tag");
  }
  c.done();

  const td = `spiffe://${trustDomain}`;
  return {
    namespace,
    meshName,
    trustDomain,
    colors,
    routeHeader,
    nodeImage,
    frontImage: args.frontImage,
    colorImage: args.colorImage,
    registeredIdentities: args.registeredIdentities,
    front: {
      name: "front",
      entryName: "front",
      identity: `${td}/front`,
      podLabels: { app: "front" },
      service: "front",
    },
    colorWorkloads: colors.map((color) => ({
      name: color,
      entryName: `color${color}`,
      identity: `${td}/color${color}`,
      podLabels: { app: "color", version: color },
      service: `color-${color}`,
    })),
    virtualService: VIRTUAL_SERVICE,
    port: PORT,
  };
}

export const workloads = (s: ColorAppSpec): Workload[] => [s.front, ...s.colorWorkloads];

export function colorAppGraph(s: ColorAppSpec): MeshGraph {
  return {
    nodes: [
      { name: s.front.name, identity: s.front.identity, backends: [s.virtualService] },
      ...s.colorWorkloads.map((w) => ({ name: w.name, identity: w.identity, backends: [] })),
    ],
    routes: { [s.virtualService]: s.colorWorkloads.map((w) => w.name) },
  };
}

/** The four virtual nodes, with SAN lists taken from the graph. */
export function colorAppVirtualNodes(s: ColorAppSpec): VirtualNodeArgs[] {
  const graph = colorAppGraph(s);
  const common = { namespace: s.namespace, trustDomain: s.trustDomain, port: s.port };
  return [
    {
      ...common,
      name: s.front.name,
      podSelector: s.front.podLabels,
      identity: s.front.identity,
      // No listener TLS: the walkthrough's curler is outside the mesh and calls front in plaintext.
      backends: [s.virtualService],
      allowedServers: serverIdentities(graph, s.front.name),
      hostname: `${s.front.service}.${s.namespace}.svc.cluster.local`,
    },
    ...s.colorWorkloads.map((w) => ({
      ...common,
      name: w.name,
      podSelector: w.podLabels,
      identity: w.identity,
      tlsMode: TlsMode.Strict,
      allowedCallers: callerIdentities(graph, w.name),
      hostname: `${w.service}.${s.namespace}.svc.cluster.local`,
    })),
  ];
}

const hostOf = (s: ColorAppSpec, service: string) => `${service}.${s.namespace}.svc.cluster.local`;

export interface ColorAppObjects {
  readonly namespace: K8sObject;
  readonly mesh: K8sObject;
  readonly virtualRouter: K8sObject;
  readonly virtualService: K8sObject;
  readonly code: K8sObject;
  readonly services: Readonly<Record<string, K8sObject>>;
  readonly deployments: Readonly<Record<string, K8sObject>>;
}

const CODE_CONFIGMAP = "colorapp-code";

function deployment(
  s: ColorAppSpec,
  w: Workload,
  file: string,
  env: Record<string, string>,
  codeHash: string,
  image?: string,
): K8sObject {
  const fromConfigMap = image === undefined;
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
          ...(fromConfigMap ? { annotations: { [CONFIG_HASH_ANNOTATION]: codeHash } } : {}),
        },
        spec: {
          serviceAccountName: "default",
          containers: [
            {
              name: "app",
              image: image ?? s.nodeImage,
              ...(fromConfigMap ? { command: ["node", `/app/${file}`] } : {}),
              ports: [{ name: "http", containerPort: s.port, protocol: "TCP" }],
              env: [
                { name: "PORT", value: String(s.port) },
                ...Object.entries(env).map(([name, value]) => ({ name, value })),
              ],
              resources: { requests: { cpu: "10m", memory: "32Mi" } },
              // Container-level only: the App Mesh injector adds an init container that needs root and NET_ADMIN.
              securityContext: { ...restrictedContainerSecurity, runAsNonRoot: true, runAsUser: 1000 },
              ...(fromConfigMap
                ? { volumeMounts: [{ name: "app-code", mountPath: "/app", readOnly: true }] }
                : {}),
            },
          ],
          ...(fromConfigMap ? { volumes: [{ name: "app-code", configMap: { name: CODE_CONFIGMAP } }] } : {}),
        },
      },
    },
  };
}

function service(s: ColorAppSpec, name: string, selector?: Readonly<Record<string, string>>): K8sObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: s.namespace },
    spec: {
      ports: [{ name: "http", port: s.port, targetPort: s.port, protocol: "TCP" }],
      ...(selector ? { selector: { ...selector } } : {}),
    },
  };
}

export function colorAppObjects(s: ColorAppSpec): ColorAppObjects {
  const sources = appSources();
  const codeHash = contentHash(...Object.entries(sources).flat());
  const services: Record<string, K8sObject> = {
    [s.front.name]: service(s, s.front.service, s.front.podLabels),
    // Selectorless: exists only so the virtual service's name resolves in DNS; the sidecar routes the traffic.
    [s.virtualService]: service(s, s.virtualService),
  };
  const deployments: Record<string, K8sObject> = {
    [s.front.name]: deployment(
      s,
      s.front,
      "front-app.js",
      { COLOR_HOST: `${hostOf(s, s.virtualService)}:${s.port}` },
      codeHash,
      s.frontImage,
    ),
  };
  for (const w of s.colorWorkloads) {
    services[w.name] = service(s, w.service, w.podLabels);
    deployments[w.name] = deployment(
      s,
      w,
      "color-app.js",
      { COLOR: w.podLabels.version },
      codeHash,
      s.colorImage,
    );
  }
  return {
    namespace: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: s.namespace,
        labels: { mesh: s.meshName, "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled" },
      },
    },
    mesh: {
      apiVersion: "appmesh.k8s.aws/v1beta2",
      kind: "Mesh",
      metadata: { name: s.meshName },
      spec: { namespaceSelector: { matchLabels: { mesh: s.meshName } } },
    },
    virtualRouter: {
      apiVersion: "appmesh.k8s.aws/v1beta2",
      kind: "VirtualRouter",
      metadata: { name: s.virtualService, namespace: s.namespace },
      spec: {
        listeners: [{ portMapping: { port: s.port, protocol: "http" } }],
        routes: s.colorWorkloads.map((w, i) => ({
          name: `${s.virtualService}-route-${w.name}`,
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
    code: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: CODE_CONFIGMAP, namespace: s.namespace },
      data: { ...sources },
    },
    services,
    deployments,
  };
}
