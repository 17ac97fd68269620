/**
 * The mesh graph as builders see it: a planned workload (WorkloadNode) stands for a MeshWorkload once its
 * component has resolved it, so callers, backends and routes name plain values. How a workload or a routed
 * virtual service is reached (egressOf), and the rule that every target admits its caller, live here once, for
 * MeshWorkload and MtlsVirtualGateway alike. Pure.
 */
import type { Checker } from "../core/validation";
import type { EgressServiceArgs } from "./meshNode";
import type { PodGroup } from "./networkPolicy";
import type { VirtualNodeArgs } from "./virtualNode";

/** A planned workload: what its callers and the workloads it calls need of it. */
export class WorkloadNode {
  constructor(
    /** Its SPIFFE ID. */
    readonly identity: string,
    /** The SPIFFE IDs its listener admits. */
    readonly allowedCallers: readonly string[],
    /** Its virtual node: name, namespace, pods, port, protocol, host name. */
    readonly nodeArgs: VirtualNodeArgs,
  ) {}

  /** Where its pods run, for a NetworkPolicy that admits exactly them. */
  get pods(): PodGroup {
    return { namespace: this.nodeArgs.namespace, podLabels: this.nodeArgs.podSelector };
  }
}

/**
 * A virtual service in front of several workloads: header routes, in priority order (first match wins). Its
 * targets are MeshWorkloads as users write it (RoutedBackend), WorkloadNodes once resolved for a builder.
 */
export interface RoutedBackendOf<Target> {
  /** Name of the virtual service (its Envoy cluster and App Mesh VirtualService). */
  readonly virtualService: string;
  /** Host name callers dial. Default: `<virtualService>.<namespace>.svc.cluster.local`. */
  readonly hostname?: string;
  /** Port callers dial. Default: 8080. */
  readonly port?: number;
  readonly routes: readonly {
    readonly name: string;
    /** Header the route matches. Default: none, the route takes everything (last route only). */
    readonly header?: string;
    /** The header's exact value; required with `header`. */
    readonly value?: string;
    readonly target: Target;
  }[];
}

export const ROUTE_TARGET_RULE = "must be a MeshWorkload";
/** Every target of a caller must list it: its listener's exact SAN list is what admits the caller. */
export const notAdmittedRule = (caller: string): string =>
  `does not admit ${caller}: add it to the callers of this target (STRICT, with an exact caller list)`;

/** How a backend is reached on the envoy data plane; every target must admit `self` among its callers. */
export function egressOf(
  b: WorkloadNode | RoutedBackendOf<unknown>,
  self: string,
  namespace: string,
  c: Checker,
  field: string,
): EgressServiceArgs {
  const admits = (target: WorkloadNode, at: string) =>
    c.check(target.allowedCallers.includes(self), at, target.identity, notAdmittedRule(self));
  if (b instanceof WorkloadNode) {
    admits(b, field);
    const host = b.nodeArgs.hostname as string;
    return {
      virtualService: host.split(".")[0],
      hostname: host,
      port: b.nodeArgs.port,
      routes: [{ name: `${b.nodeArgs.name}-route`, target: b.nodeArgs }],
    };
  }
  const routes = b.routes ?? [];
  for (const [j, r] of routes.entries()) {
    const at = `${field}.routes[${j}].target`;
    if (c.check(r.target instanceof WorkloadNode, at, r.target, ROUTE_TARGET_RULE))
      admits(r.target as WorkloadNode, at);
  }
  return {
    virtualService: b.virtualService,
    hostname: b.hostname ?? `${b.virtualService}.${namespace}.svc.cluster.local`,
    port: b.port,
    routes: routes.flatMap((r) =>
      r.target instanceof WorkloadNode
        ? [{ name: r.name, header: r.header, value: r.value, target: r.target.nodeArgs }]
        : [],
    ),
  };
}
