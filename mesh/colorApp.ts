/**
 * The walkthrough's demo: front calls virtual service `color`, whose router sends requests to blue, green or red
 * by the `color_header` header. Builds the names, identities and the service graph the workloads follow.
 */

import { checkImage } from "../core/images";
import { Checker, isDnsLabel, isDnsSubdomain } from "../core/validation";
import { parseTrustDomain } from "../spire/spiffeId";
import { DataPlane } from "./envoySidecar";
import { ServiceType } from "./gateway";
import { checkExposure, checkGatewayListener, type GatewayListenerArgs } from "./gatewayListener";
import type { PodGroup } from "./networkPolicy";
import { callerIdentities, type MeshGraph } from "./serviceGraph";

/** ColorApp's ingress gateway, when it has one. */
export interface ColorAppGatewayArgs {
  /** Default: port 8088, plaintext (an edge, like front: its clients are outside the mesh). */
  readonly listener?: GatewayListenerArgs;
  /** Default ClusterIP. LoadBalancer and NodePort need listener.tlsMode STRICT or listener.allowPlaintextExternal. */
  readonly serviceType?: ServiceType;
  /** Default 1. */
  readonly replicas?: number;
}

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
  /**
   * A custom front image instead (runs its own command; the ConfigMap code is not mounted). Default: none,
   * `nodeImage` runs the walkthrough's front.
   */
  readonly frontImage?: string;
  /** A custom colour-app image instead. Default: none, `nodeImage` runs the walkthrough's colour app. */
  readonly colorImage?: string;
  /**
   * SPIFFE IDs that have a SPIRE entry in this stack. Nodes whose own or peer identity is missing warn at
   * preview: mTLS to or from them fails until it is registered. Default: none given, and no such warning.
   */
  readonly registeredIdentities?: readonly string[];
  /** Data plane. Default envoy (self-managed sidecars); appmesh renders App Mesh custom resources. */
  readonly dataPlane?: DataPlane;
  /** envoy: sidecar image. Default: envoyproxy/envoy:v1.39.5. */
  readonly envoyImage?: string;
  /**
   * An ingress gateway routing `/color` to the virtual service `color` over mTLS (true for the defaults).
   * Default none, as in the walkthrough.
   */
  readonly gateway?: boolean | ColorAppGatewayArgs;
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

/** The gateway as the graph and the stack see it: a workload of the demo with its listener and route. */
export interface GatewayWorkload extends Workload {
  readonly listener: GatewayListenerArgs & { readonly port: number };
  /** Its one route: this prefix to the virtual service `color`. */
  readonly prefix: string;
  readonly serviceType: ServiceType;
  readonly replicas: number;
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
  readonly gateway?: GatewayWorkload;
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
    if (args.gateway) {
      c.check(
        !colors.includes("gateway"),
        "colors",
        colors,
        'must not contain "gateway" (the gateway\'s name)',
      );
    }
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
    if (image !== undefined) checkImage(c, field, image);
  }
  const dataPlane = args.dataPlane ?? DataPlane.Envoy;
  const planes = Object.values(DataPlane) as string[];
  c.check(planes.includes(dataPlane), "dataPlane", dataPlane, `must be one of ${planes.join(", ")}`);
  if (dataPlane === DataPlane.AppMesh) {
    c.check(
      args.envoyImage === undefined,
      "envoyImage",
      args.envoyImage,
      "only applies to the envoy data plane",
    );
  }
  const gatewayArgs = args.gateway === true ? {} : args.gateway || undefined;
  const listener = gatewayArgs
    ? checkGatewayListener(c, gatewayArgs.listener ?? {}, trustDomain, "gateway.")
    : undefined;
  if (gatewayArgs && listener) {
    checkExposure(c, listener, gatewayArgs.serviceType ?? ServiceType.ClusterIP, "gateway.");
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
    ...(gatewayArgs && listener
      ? {
          gateway: {
            name: "gateway",
            entryName: "gateway",
            identity: `${td}/gateway`,
            podLabels: { app: "gateway" },
            serviceAccount: "gateway",
            service: "gateway",
            listener: { ...gatewayArgs.listener, port: listener.port },
            prefix: `/${VIRTUAL_SERVICE}`,
            serviceType: gatewayArgs.serviceType ?? ServiceType.ClusterIP,
            replicas: gatewayArgs.replicas ?? 1,
          },
        }
      : {}),
  };
}

export const workloads = (s: ColorAppSpec): Workload[] => [s.front, ...s.colorWorkloads];

/**
 * Who calls what: front and the gateway (when there is one) call the virtual service `color`, whose router
 * sends to the colours. The colours' callers are read from here, so the gateway's route is what admits it.
 */
export function colorAppGraph(s: ColorAppSpec): MeshGraph {
  return {
    nodes: [
      { name: s.front.name, identity: s.front.identity, backends: [s.virtualService] },
      ...(s.gateway
        ? [{ name: s.gateway.name, identity: s.gateway.identity, backends: [s.virtualService] }]
        : []),
      ...s.colorWorkloads.map((w) => ({ name: w.name, identity: w.identity, backends: [] })),
    ],
    routes: { [s.virtualService]: s.colorWorkloads.map((w) => w.name) },
  };
}

/**
 * Who may call each colour, taken from the graph (front, and the gateway, route to them through the virtual
 * service), with the pods each caller runs in: the colour's NetworkPolicy admits exactly those.
 */
export function colorCallers(s: ColorAppSpec, color: string): { identity: string; pods: PodGroup }[] {
  const members = [...workloads(s), ...(s.gateway ? [s.gateway] : [])];
  return callerIdentities(colorAppGraph(s), color).map((identity) => {
    const caller = members.find((m) => m.identity === identity);
    if (!caller)
      throw new Error(`ColorApp: the graph names a caller ${identity} that is not one of its members`);
    return { identity, pods: { namespace: s.namespace, podLabels: caller.podLabels } };
  });
}

export const routeName = (s: ColorAppSpec, color: string) => `${s.virtualService}-route-${color}`;

export function hostOf(s: ColorAppSpec, service: string): string {
  return `${service}.${s.namespace}.svc.cluster.local`;
}
