import * as pulumi from "@pulumi/pulumi";
import type { PodAdditions } from "../mesh/envoySidecar";
import { type MeshNodeArgs, type MeshNodePlan, meshNodePlan } from "../mesh/meshNode";
import { kubernetesObject } from "./kubernetesObject";

export type { AuthorizationArgs, AuthorizationRuleArgs, HeaderMatch, PathMatch } from "../mesh/authorization";
export { AuthorizationMode } from "../mesh/authorization";
export { DataPlane } from "../mesh/envoySidecar";
export type { EgressRouteArgs, EgressServiceArgs, MeshNodeArgs } from "../mesh/meshNode";
export type { HealthCheckArgs, VirtualNodeArgs } from "../mesh/virtualNode";
export { ListenerProtocol, TlsMode } from "../mesh/virtualNode";

export interface MtlsVirtualNodeArgs extends MeshNodeArgs {
  /**
   * SPIFFE IDs that have a SPIRE entry in this stack. When given, the node warns at preview about its own or a
   * peer's identity that is missing: mTLS to or from that workload fails until it is registered. Default: none
   * given, and no such warning.
   */
  readonly registeredIdentities?: readonly string[];
}

/**
 * One service's mesh identity and mTLS policy: listener TLS (STRICT or PERMISSIVE) with its SVID and the trust
 * bundle over SDS and an exact list of allowed callers, client TLS to its backends with an exact list of
 * allowed servers, and an HTTP health check. On the envoy data plane it renders the Envoy bootstrap into a
 * ConfigMap and offers `podAdditions` (the sidecar, its volumes, host aliases) for the workload's pod template;
 * on the appmesh data plane it is an App Mesh VirtualNode.
 */
export class MtlsVirtualNode extends pulumi.ComponentResource {
  public readonly nodeName: pulumi.Output<string>;
  public readonly identity: pulumi.Output<string | undefined>;
  public readonly allowedCallers: pulumi.Output<string[]>;
  public readonly allowedServers: pulumi.Output<string[]>;
  /** What the workload's pod template must include on the envoy data plane; undefined on appmesh. */
  public readonly podAdditions?: PodAdditions;
  /** The envoy bootstrap, for review and validation; undefined on appmesh. */
  public readonly bootstrap?: Record<string, unknown>;

  /**
   * @param name The _unique_ name of this component; children are named after it.
   * @param args The node's identity, listener, TLS policy and backends.
   * @param opts A bag of options that control this resource's behavior.
   * @param planned Internal: the plan of `args` that MeshWorkload's builder already made and checked.
   */
  constructor(
    name: string,
    args: MtlsVirtualNodeArgs,
    opts?: pulumi.ComponentResourceOptions,
    planned?: MeshNodePlan,
  ) {
    const plan = planned ?? meshNodePlan(args);
    const spec = plan.spec;
    super("spire-mesh:index:MtlsVirtualNode", name, {}, opts);

    if (plan.appMesh) kubernetesObject(`${name}-virtual-node`, plan.appMesh, { parent: this });
    for (const message of plan.warnings) pulumi.log.warn(message, this);
    if (plan.envoy) {
      kubernetesObject(`${name}-envoy-bootstrap`, plan.envoy.configMap, { parent: this });
      this.podAdditions = plan.envoy.pod;
      this.bootstrap = plan.envoy.bootstrap;
    }
    if (args.registeredIdentities) {
      for (const message of unregisteredWarnings(
        spec.name,
        spec.identity,
        spec.allowedCallers,
        spec.allowedServers,
        args.registeredIdentities,
      )) {
        pulumi.log.warn(message, this);
      }
    }

    this.nodeName = pulumi.output(spec.name);
    this.identity = pulumi.output(spec.identity);
    this.allowedCallers = pulumi.output([...spec.allowedCallers]);
    this.allowedServers = pulumi.output([...spec.allowedServers]);
    this.registerOutputs({
      nodeName: this.nodeName,
      identity: this.identity,
      allowedCallers: this.allowedCallers,
      allowedServers: this.allowedServers,
    });
  }
}

/** The walkthrough shows green failing at runtime; we say so before deploy. */
export function unregisteredWarnings(
  node: string,
  identity: string | undefined,
  callers: readonly string[],
  servers: readonly string[],
  registered: readonly string[],
  kind = "virtual node",
): string[] {
  const known = new Set(registered);
  const warnings: string[] = [];
  if (identity && !known.has(identity)) {
    warnings.push(
      `${kind} ${node}: its identity ${identity} has no SPIRE entry in this stack, so its Envoy gets no ` +
        `certificate; mTLS to or from ${node} will fail until it is registered`,
    );
  }
  for (const id of servers.filter((x) => !known.has(x))) {
    warnings.push(
      `${kind} ${node}: backend identity ${id} has no SPIRE entry in this stack; mTLS from ${node} to it will fail until it is registered`,
    );
  }
  for (const id of callers.filter((x) => !known.has(x))) {
    warnings.push(
      `${kind} ${node}: caller identity ${id} has no SPIRE entry in this stack; mTLS from it to ${node} will fail until it is registered`,
    );
  }
  return warnings;
}
