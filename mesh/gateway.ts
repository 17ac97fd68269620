/**
 * An ingress gateway's identity, listener and routes, checked: where traffic enters the mesh. Its listener
 * (gatewayListener.ts) takes callers from inside or outside the mesh; its routes (gatewayRoutes.ts) reach each
 * target over mTLS with the gateway's SVID and an exact SAN check. Pure.
 */

import { checkImage } from "../core/images";
import { Checker, isDnsLabel, isDnsSubdomain, isReplicaCount, REPLICAS_RULE } from "../core/validation";
import { SPIFFE_CSI_DRIVER } from "../spire/csiDriver";
import { checkWorkloadId, parseTrustDomain, trustDomainId } from "../spire/spiffeId";
import type { EgressService } from "./envoyBootstrap";
import { DataPlane, ENVOY_IMAGE, type WorkloadApiVolume } from "./envoySidecar";
import {
  checkExposure,
  checkGatewayListener,
  type GatewayListener,
  type GatewayListenerArgs,
} from "./gatewayListener";
import { checkGatewayRoutes, type GatewayRoute, type GatewayRouteArgs } from "./gatewayRoutes";
import { type EgressServiceArgs, resolveEgress } from "./meshNode";
import { ListenerProtocol } from "./virtualNode";

export enum ServiceType {
  ClusterIP = "ClusterIP",
  NodePort = "NodePort",
  LoadBalancer = "LoadBalancer",
}

export interface GatewayArgs {
  /** Kubernetes name of its Deployment, Service and VirtualGateway. */
  readonly name: string;
  readonly namespace: string;
  readonly trustDomain: string;
  /** Its SPIFFE ID: the SDS secret of its certificate, and what its targets admit. */
  readonly identity: string;
  /** Its own ServiceAccount. Default: its name. */
  readonly serviceAccount?: string;
  /** Labels of its pods, which SPIRE selects. Default `{ app: <name> }`. */
  readonly podLabels?: Readonly<Record<string, string>>;
  readonly listener?: GatewayListenerArgs;
  /** The virtual services it can reach, each with its router's routes to the target nodes. */
  readonly backends: readonly EgressServiceArgs[];
  /** In any order: the longest prefix is tried first, on both data planes. */
  readonly routes: readonly GatewayRouteArgs[];
  /** Default 1. */
  readonly replicas?: number;
  /** Default ClusterIP. LoadBalancer and NodePort need a STRICT listener (or listener.allowPlaintextExternal). */
  readonly serviceType?: ServiceType;
  readonly dataPlane?: DataPlane;
  /** Default: the namespace. */
  readonly meshName?: string;
  /** Default envoyproxy/envoy:v1.39.5 (on appmesh the controller swaps in its own unless told not to). */
  readonly envoyImage?: string;
  /** envoy: the SPIRE agent socket. Default /run/spire/sockets/agent.sock. */
  readonly sdsSocketPath?: string;
  /** envoy: how the agent socket directory is mounted. Default the CSI driver csi.spiffe.io; hostPath if asked. */
  readonly workloadApi?: WorkloadApiVolume;
}

export interface GatewaySpec {
  readonly name: string;
  readonly namespace: string;
  readonly trustDomainId: string;
  readonly identity: string;
  readonly serviceAccount: string;
  readonly podLabels: Readonly<Record<string, string>>;
  readonly listener: GatewayListener;
  readonly backends: readonly Omit<EgressService, "listenAddress">[];
  /** In priority order. */
  readonly routes: readonly GatewayRoute[];
  /** The identities behind its routes: its client SAN list. */
  readonly allowedServers: readonly string[];
  readonly replicas: number;
  readonly serviceType: ServiceType;
  readonly dataPlane: DataPlane;
  readonly meshName: string;
  readonly envoyImage: string;
  readonly sdsSocketPath: string;
  readonly workloadApi: WorkloadApiVolume;
}

const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const oneOf = (values: object) => Object.values(values) as string[];

export function gatewaySpec(args: GatewayArgs): GatewaySpec {
  const c = new Checker(`MtlsVirtualGateway ${args?.name}`);
  c.check(isDnsLabel(args.name), "name", args.name, "must be a Kubernetes name (RFC 1123 label)");
  c.check(isDnsLabel(args.namespace), "namespace", args.namespace, "must be a Kubernetes namespace name");
  const trustDomain = c.attempt("trustDomain", args.trustDomain, () => parseTrustDomain(args.trustDomain));
  const spiffe = (field: string, id: string) =>
    trustDomain !== undefined && c.attempt(field, id, () => checkWorkloadId(id, trustDomain));
  spiffe("identity", args.identity);
  const serviceAccount = args.serviceAccount ?? args.name;
  c.check(isDnsLabel(serviceAccount), "serviceAccount", serviceAccount, "must be a ServiceAccount name");
  const podLabels = args.podLabels ?? { app: args.name };
  c.check(
    Object.keys(podLabels).length > 0,
    "podLabels",
    podLabels,
    "must hold at least one label (the SVID is bound to it)",
  );
  for (const [k, v] of Object.entries(podLabels)) {
    c.check(labelValue.test(v) && v.length <= 63, `podLabels.${k}`, v, "must be a label value");
  }

  const listener = checkGatewayListener(c, args.listener ?? {}, trustDomain);
  const backends = (args.backends ?? []).map((b, i) => {
    const field = `backends[${i}]`;
    c.check(isDnsLabel(b.virtualService), `${field}.virtualService`, b.virtualService, "must be a name");
    const servers = (b.routes ?? []).flatMap((r) => (r.target?.identity ? [r.target.identity] : []));
    const resolved = resolveEgress(c, field, b, servers);
    for (const [j, r] of resolved.routes.entries()) {
      c.check(
        r.target.protocol === ListenerProtocol.Http,
        `${field}.routes[${j}].target`,
        r.target.protocol,
        "must be an http node: the gateway's listener and its routes speak HTTP",
      );
    }
    return resolved;
  });
  const names = backends.map((b) => b.virtualService);
  for (const [i, name] of names.entries()) {
    c.check(names.indexOf(name) === i, `backends[${i}].virtualService`, name, "repeats a backend");
  }
  const routes = checkGatewayRoutes(c, args.name, args.routes ?? [], names);
  // A route to an unknown service is the mistake to report; its backend then looking unrouted is a consequence.
  const misrouted = routes.some((r) => !names.includes(r.virtualService));
  for (const [i, name] of misrouted ? [] : names.entries()) {
    c.check(
      routes.some((r) => r.virtualService === name),
      `backends[${i}]`,
      name,
      "is the target of no route: route to it, or leave it out (the gateway admits no unrouted server)",
    );
  }

  const replicas = args.replicas ?? 1;
  c.check(isReplicaCount(replicas), "replicas", replicas, REPLICAS_RULE);
  const serviceType = args.serviceType ?? ServiceType.ClusterIP;
  if (
    c.check(
      oneOf(ServiceType).includes(serviceType),
      "serviceType",
      serviceType,
      `must be one of ${oneOf(ServiceType).join(", ")}`,
    )
  ) {
    checkExposure(c, listener, serviceType);
  }
  const dataPlane = args.dataPlane ?? DataPlane.Envoy;
  c.check(oneOf(DataPlane).includes(dataPlane), "dataPlane", dataPlane, "must be envoy or appmesh");
  const meshName = args.meshName ?? args.namespace;
  c.check(isDnsLabel(meshName), "meshName", meshName, "must be a lowercase DNS label");
  const envoyImage = args.envoyImage ?? ENVOY_IMAGE;
  checkImage(c, "envoyImage", envoyImage);
  const workloadApi = args.workloadApi ?? { csiDriver: SPIFFE_CSI_DRIVER };
  if ("csiDriver" in workloadApi) {
    c.check(
      isDnsSubdomain(workloadApi.csiDriver),
      "workloadApi.csiDriver",
      workloadApi.csiDriver,
      "must be a CSI driver name such as spire.csi.spiffe.io",
    );
  }
  c.done();
  const routed = new Set(routes.map((r) => r.virtualService));
  return {
    name: args.name,
    namespace: args.namespace,
    trustDomainId: trustDomainId(trustDomain as string),
    identity: args.identity,
    serviceAccount,
    podLabels: { ...podLabels },
    listener,
    backends,
    routes,
    allowedServers: [
      ...new Set(
        backends
          .filter((b) => routed.has(b.virtualService))
          .flatMap((b) => b.routes.map((r) => r.target.identity as string)),
      ),
    ],
    replicas,
    serviceType,
    dataPlane,
    meshName,
    envoyImage,
    sdsSocketPath: args.sdsSocketPath ?? "/run/spire/sockets/agent.sock",
    workloadApi,
  };
}
