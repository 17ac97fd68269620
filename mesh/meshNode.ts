/**
 * A virtual node on either data plane: the App Mesh custom resource, or an Envoy sidecar with the same
 * semantics. Checks the envoy-only arguments (how the node reaches its backends) against the node's policy.
 */

import { checkImage } from "../core/images";
import { Checker, isAbsolutePath, isDnsLabel, isDnsSubdomain, isPort } from "../core/validation";
import { SPIFFE_CSI_DRIVER } from "../spire/csiDriver";
import type { K8sObject } from "../spire/k8s";
import type { CheckedCallers } from "./callers";
import { type EgressService, envoyPorts } from "./envoyBootstrap";
import {
  DataPlane,
  ENVOY_IMAGE,
  envoySidecar,
  type SidecarResult,
  type WorkloadApiVolume,
} from "./envoySidecar";
import {
  appMeshFederationWarnings,
  appMeshVirtualNode,
  ListenerProtocol,
  type VirtualNodeArgs,
  type VirtualNodeSpec,
  virtualNodeSpec,
} from "./virtualNode";

export interface EgressRouteArgs {
  /** Route name, e.g. "color-route-blue". */
  readonly name: string;
  /** Header the route matches, e.g. "color_header". Unset: the route takes all traffic (last route only). */
  readonly header?: string;
  /** The exact header value, e.g. "blue". */
  readonly value?: string;
  /** The virtual node the route sends to. */
  readonly target: VirtualNodeArgs;
}

export interface EgressServiceArgs {
  /** One of the node's `backends`. */
  readonly virtualService: string;
  /** Host name the app dials for it, e.g. color.<ns>.svc.cluster.local. */
  readonly hostname: string;
  /** Port the app dials. Default 8080. */
  readonly port?: number;
  /** The virtual router's routes, in priority order (first match wins). */
  readonly routes: readonly EgressRouteArgs[];
}

export interface MeshNodeArgs extends VirtualNodeArgs {
  /**
   * Data plane: `envoy` or `appmesh`. Default: envoy. Conflicts with `envoyImage`, `egress` and `workloadApi` when
   * appmesh.
   */
  readonly dataPlane?: DataPlane;
  /** Mesh name, used in Envoy's App Mesh-style cluster names. Default: the namespace. */
  readonly meshName?: string;
  /** envoy: the sidecar image. Default envoyproxy/envoy:v1.39.5. Conflicts with `dataPlane` appmesh. */
  readonly envoyImage?: string;
  /** envoy: the SPIRE agent socket the sidecar fetches secrets from. Default /run/spire/sockets/agent.sock. */
  readonly sdsSocketPath?: string;
  /**
   * envoy: how each backend is reached; one for every backend on the envoy data plane. Default: none, for a
   * node without backends. Conflicts with `dataPlane` appmesh.
   */
  readonly egress?: readonly EgressServiceArgs[];
  /**
   * envoy: how the sidecar mounts the agent socket directory: through a SPIFFE CSI driver (its name: with a
   * SpireInstallation, its `settings.csiDriverName`), or `{ hostPath: true }` as an explicit choice. Default the
   * CSI driver csi.spiffe.io, so the pod needs no hostPath volume (Pod Security `restricted` admits it).
   * Conflicts with `dataPlane` appmesh.
   */
  readonly workloadApi?: WorkloadApiVolume;
}

export const APPMESH_AUTHZ_RULE =
  "is not supported on the appmesh data plane: an App Mesh VirtualNode admits callers by SAN only and has no " +
  "per-route authorization; use dataPlane envoy";

export interface MeshNodePlan {
  readonly spec: VirtualNodeSpec;
  readonly dataPlane: DataPlane;
  readonly appMesh?: K8sObject;
  readonly envoy?: SidecarResult;
  /** Preview warnings: what the chosen data plane cannot follow. */
  readonly warnings: readonly string[];
}

/** The node checked and rendered for its data plane; `checkedCallers` as virtualNodeSpec takes them. */
export function meshNodePlan(args: MeshNodeArgs, checkedCallers?: CheckedCallers): MeshNodePlan {
  const spec = virtualNodeSpec(args, checkedCallers);
  const dataPlane = args.dataPlane ?? DataPlane.Envoy;
  const c = new Checker(`MtlsVirtualNode ${args.name}`);
  const planes = Object.values(DataPlane) as string[];
  c.check(planes.includes(dataPlane), "dataPlane", dataPlane, `must be one of ${planes.join(", ")}`);
  if (dataPlane === DataPlane.AppMesh) {
    for (const key of ["envoyImage", "egress", "workloadApi"] as const) {
      c.check(args[key] === undefined, key, args[key], "only applies to the envoy data plane");
    }
    c.check(args.authorization === undefined, "authorization", args.authorization, APPMESH_AUTHZ_RULE);
    c.done();
    return { spec, dataPlane, appMesh: appMeshVirtualNode(spec), warnings: appMeshFederationWarnings(spec) };
  }

  const meshName = args.meshName ?? spec.namespace;
  c.check(isDnsLabel(meshName), "meshName", meshName, "must be a lowercase DNS label");
  const image = args.envoyImage ?? ENVOY_IMAGE;
  checkImage(c, "envoyImage", image);
  const sdsSocketPath = args.sdsSocketPath ?? "/run/spire/sockets/agent.sock";
  const workloadApi: WorkloadApiVolume = args.workloadApi ?? { csiDriver: SPIFFE_CSI_DRIVER };
  if ("csiDriver" in workloadApi) {
    c.check(
      isDnsSubdomain(workloadApi.csiDriver),
      "workloadApi.csiDriver",
      workloadApi.csiDriver,
      "must be a CSI driver name such as spire.csi.spiffe.io",
    );
  }
  c.check(isAbsolutePath(sdsSocketPath), "sdsSocketPath", sdsSocketPath, "must be an absolute path");
  if (spec.tlsMode !== undefined || spec.allowedServers.length > 0) {
    c.check(
      spec.identity !== undefined,
      "identity",
      spec.identity,
      "is required for TLS on the envoy data plane",
    );
  }

  const egressArgs = args.egress ?? [];
  const egress: EgressService[] = [];
  for (const [i, e] of egressArgs.entries()) {
    const field = `egress[${i}]`;
    c.check(
      spec.backends.includes(e.virtualService),
      `${field}.virtualService`,
      e.virtualService,
      "must be one of backends",
    );
    // A loopback address per virtual service, so its port never collides with the app's on 127.0.0.1.
    egress.push({ ...resolveEgress(c, field, e, spec.allowedServers), listenAddress: `127.0.0.${i + 2}` });
  }
  for (const backend of spec.backends) {
    c.check(
      egressArgs.some((e) => e.virtualService === backend),
      "egress",
      backend,
      `backend ${backend} needs an egress entry (its routes) on the envoy data plane`,
    );
  }
  c.done();
  return {
    spec,
    dataPlane,
    warnings: [],
    envoy: envoySidecar(
      { meshName, node: spec, egress, sdsSocketPath, ports: envoyPorts },
      image,
      workloadApi,
    ),
  };
}

/**
 * One backend's virtual service, checked: its host and port, and its routes with their targets' specs. Each
 * target's identity must be one of `allowedServers`, whose SAN check the caller's client TLS applies.
 */
export function resolveEgress(
  c: Checker,
  field: string,
  e: EgressServiceArgs,
  allowedServers: readonly string[],
): Omit<EgressService, "listenAddress"> {
  const port = e.port ?? 8080;
  c.check(isPort(port), `${field}.port`, port, "must be an integer port in 1-65535");
  c.check(
    /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(e.hostname ?? ""),
    `${field}.hostname`,
    e.hostname,
    "must be a DNS name",
  );
  c.check((e.routes ?? []).length > 0, `${field}.routes`, e.routes, "needs at least one route");
  const routes = (e.routes ?? []).flatMap((r, j) => {
    const target = c.attempt(`${field}.routes[${j}].target`, r.target?.name, () => virtualNodeSpec(r.target));
    if (r.header !== undefined) {
      c.check(
        /^[a-z0-9_-]{1,50}$/.test(r.header),
        `${field}.routes[${j}].header`,
        r.header,
        "must be a lowercase header name of 1-50 characters",
      );
      c.check(
        typeof r.value === "string" && r.value.length > 0,
        `${field}.routes[${j}].value`,
        r.value,
        "is required with header: the exact value to match",
      );
    } else {
      c.check(
        j === (e.routes ?? []).length - 1,
        `${field}.routes[${j}].header`,
        r.header,
        "is required on every route but the last (a route without one takes all traffic)",
      );
    }
    if (target) {
      c.check(
        target.identity !== undefined && allowedServers.includes(target.identity),
        `${field}.routes[${j}].target`,
        target.identity,
        "its identity must be one of allowedServers (mTLS to a backend checks its SAN)",
      );
    }
    return target ? [{ name: r.name, header: r.header, value: r.value, target }] : [];
  });
  const protocols = [...new Set(routes.map((r) => r.target.protocol))];
  c.check(
    protocols.length <= 1,
    `${field}.routes`,
    protocols,
    "must all target nodes of one protocol (the egress listener speaks one)",
  );
  if (protocols[0] === ListenerProtocol.Tcp) {
    c.check(
      routes.length === 1 && routes[0].header === undefined,
      `${field}.routes`,
      routes.map((r) => r.name),
      "tcp carries no headers to route on: exactly one route, without a header",
    );
  }
  return { virtualService: e.virtualService, hostname: e.hostname, port, routes };
}
