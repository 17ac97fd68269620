/**
 * The walkthrough's demo: front calls virtual service `color`, whose router sends requests to blue, green or red
 * by the `color_header` header. Builds the names, identities, service graph and Kubernetes/App Mesh objects.
 */

import { Checker, isDnsLabel, isDnsSubdomain } from "../core/validation";
import { isImageRef } from "../spire/settings";
import { parseTrustDomain } from "../spire/spiffeId";
import { DataPlane, type WorkloadApiVolume } from "./envoySidecar";
import type { MeshNodeArgs } from "./meshNode";
import { callerIdentities, type MeshGraph, serverIdentities } from "./serviceGraph";
import { TlsMode } from "./virtualNode";

export interface ColorAppArgs {
  /** Namespace of the apps. Default "howto-k8s-mtls-sds-based". */
  readonly namespace?: string;
  /** Mesh name (cluster-scoped on App Mesh). Default: the namespace, so two stacks never share a mesh by accident. */
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
  /** Data plane. Default envoy (self-managed sidecars); appmesh renders App Mesh custom resources. */
  readonly dataPlane?: DataPlane;
  /** envoy: sidecar image. */
  readonly envoyImage?: string;
  /** envoy: the SPIRE agent socket, e.g. the installation's agentSocketPath. */
  readonly sdsSocketPath?: string;
  /** envoy: how sidecars mount the agent socket (the installation's CSI driver, or hostPath). Default hostPath. */
  readonly workloadApi?: WorkloadApiVolume;
}

export interface Workload {
  /** Kubernetes name of the Deployment and VirtualNode, e.g. "blue". */
  readonly name: string;
  /** Entry name of its identity in the walkthrough's registration script, e.g. "colorblue". */
  readonly entryName: string;
  readonly identity: string;
  readonly podLabels: Readonly<Record<string, string>>;
  /** Its own ServiceAccount (named after it): part of what its SVID is bound to. */
  readonly serviceAccount: string;
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
  readonly dataPlane: DataPlane;
  readonly envoyImage?: string;
  readonly sdsSocketPath?: string;
  readonly workloadApi?: WorkloadApiVolume;
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
  const meshName = args.meshName ?? namespace;
  if (args.meshName !== undefined) {
    c.check(
      isDnsSubdomain(meshName) && meshName.length <= 63,
      "meshName",
      meshName,
      "must be a lowercase DNS name of at most 63 characters",
    );
  }
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
  const dataPlane = args.dataPlane ?? DataPlane.Envoy;
  const planes = Object.values(DataPlane) as string[];
  c.check(planes.includes(dataPlane), "dataPlane", dataPlane, `must be one of ${planes.join(", ")}`);
  if (dataPlane === DataPlane.AppMesh) {
    for (const key of ["envoyImage", "workloadApi"] as const) {
      c.check(args[key] === undefined, key, args[key], "only applies to the envoy data plane");
    }
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
      serviceAccount: "front",
      service: "front",
    },
    colorWorkloads: colors.map((color) => ({
      name: color,
      entryName: `color${color}`,
      identity: `${td}/color${color}`,
      podLabels: { app: "color", version: color },
      serviceAccount: color,
      service: `color-${color}`,
    })),
    virtualService: VIRTUAL_SERVICE,
    port: PORT,
    dataPlane,
    envoyImage: args.envoyImage,
    sdsSocketPath: args.sdsSocketPath,
    workloadApi: args.workloadApi,
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
export function colorAppVirtualNodes(s: ColorAppSpec): MeshNodeArgs[] {
  const graph = colorAppGraph(s);
  const common = {
    namespace: s.namespace,
    trustDomain: s.trustDomain,
    port: s.port,
    dataPlane: s.dataPlane,
    meshName: s.meshName,
    ...(s.dataPlane === DataPlane.Envoy
      ? { envoyImage: s.envoyImage, sdsSocketPath: s.sdsSocketPath, workloadApi: s.workloadApi }
      : {}),
  };
  const colors = s.colorWorkloads.map((w) => ({
    ...common,
    name: w.name,
    podSelector: w.podLabels,
    identity: w.identity,
    tlsMode: TlsMode.Strict,
    allowedCallers: callerIdentities(graph, w.name),
    hostname: hostOf(s, w.service),
  }));
  const front: MeshNodeArgs = {
    ...common,
    name: s.front.name,
    podSelector: s.front.podLabels,
    identity: s.front.identity,
    // No listener TLS: the walkthrough's curler is outside the mesh and calls front in plaintext.
    backends: [s.virtualService],
    allowedServers: serverIdentities(graph, s.front.name),
    hostname: hostOf(s, s.front.service),
    // The envoy data plane carries the router itself: the same routes, in the same priority order.
    ...(s.dataPlane === DataPlane.Envoy
      ? {
          egress: [
            {
              virtualService: s.virtualService,
              hostname: hostOf(s, s.virtualService),
              port: s.port,
              routes: colors.map((target) => ({
                name: routeName(s, target.name),
                header: s.routeHeader,
                value: target.name,
                target,
              })),
            },
          ],
        }
      : {}),
  };
  return [front, ...colors];
}

export const routeName = (s: ColorAppSpec, color: string) => `${s.virtualService}-route-${color}`;

export function hostOf(s: ColorAppSpec, service: string): string {
  return `${service}.${s.namespace}.svc.cluster.local`;
}
