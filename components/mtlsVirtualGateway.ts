import * as pulumi from "@pulumi/pulumi";
import { Checker } from "../core/validation";
import { DataPlane } from "../mesh/envoySidecar";
import type { GatewaySpec, ServiceType } from "../mesh/gateway";
import type { GatewayListenerArgs } from "../mesh/gatewayListener";
import { gatewayEntry, gatewayPlan } from "../mesh/gatewayObjects";
import type { GatewayRouteArgs } from "../mesh/gatewayRoutes";
import { egressOf, type WorkloadNode } from "../mesh/workloadGraph";
import { deriveEntryId, resolveEntry } from "../spire/entries";
import type { EntrySetMember } from "../spire/entrySet";
import { entryTarget } from "../spire/entryTarget";
import { kubernetesObject } from "./kubernetesObject";
import { type MeshMemberArgs, memberEntry } from "./meshMemberArgs";
import { graphNodeOf, MeshWorkload, type RoutedBackend, routedNodeOf } from "./meshWorkload";
import { unregisteredWarnings } from "./mtlsVirtualNode";
import type { SpireInstallation } from "./spireInstallation";
import { claimNames } from "./workloadNames";

export { ServiceType } from "../mesh/gateway";
export { GATEWAY_PORT, type GatewayListenerArgs } from "../mesh/gatewayListener";
export type { GatewayRouteArgs } from "../mesh/gatewayRoutes";

export interface MtlsVirtualGatewayArgs extends MeshMemberArgs {
  /** Kubernetes name of its Deployment, Service and VirtualGateway. Default: the component's name. */
  readonly name?: string;
  /** Namespace of its Deployment, Service and ServiceAccount; part of its default SPIFFE ID. */
  readonly namespace: string;
  /** The SPIRE that gives it its identity. */
  readonly installation: SpireInstallation;
  /** Its SPIFFE ID. Default `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>` (see identityOf). */
  readonly identity?: string;
  /** Its own ServiceAccount, created with no token mounted. Default: its name. */
  readonly serviceAccount?: string;
  /** Labels of its pods; its SVID is bound to them. Default `{ app: <name> }`. */
  readonly podLabels?: Readonly<Record<string, string>>;
  /**
   * Port and TLS: STRICT with callers (workloads or SPIFFE IDs) or an edge Secret, PERMISSIVE, none. Default:
   * port 8088, plaintext, no callers (see GatewayListenerArgs for each field's).
   */
  readonly listener?: Omit<GatewayListenerArgs, "callers"> & {
    readonly callers?: readonly (MeshWorkload | string)[];
  };
  /** What it can reach. Each target must admit its identity among its callers. */
  readonly backends: readonly (MeshWorkload | RoutedBackend)[];
  /** Prefix (and optional header) to one of the backends, by its virtual service name. */
  readonly routes: readonly GatewayRouteArgs[];
  /** Pods of its Deployment. Default 1. */
  readonly replicas?: number;
  /**
   * ClusterIP, NodePort or LoadBalancer. Default: ClusterIP. The last two need a STRICT listener or
   * `listener.allowPlaintextExternal`.
   */
  readonly serviceType?: ServiceType;
}

/**
 * An ingress gateway with mTLS to the mesh: traffic enters at its listener and leaves over mTLS with its own
 * SVID and an exact SAN check per target. On the envoy data plane a Deployment runs Envoy alone from a rendered
 * bootstrap; on appmesh it is a VirtualGateway with GatewayRoutes and the Deployment the controller configures.
 * Either way: its own ServiceAccount, its Service, and its SPIRE entry, whose selectors are what it deploys
 * (namespace, account, its pods' labels, container `envoy`).
 *
 * Its targets are created first, so they admit it by identity: take it from `identityOf` before they exist
 * (ColorApp derives it from its routes). Construction fails, before anything is registered, if one does not.
 */
export class MtlsVirtualGateway extends pulumi.ComponentResource {
  public readonly gatewayName: pulumi.Output<string>;
  public readonly identity: pulumi.Output<string>;
  public readonly entryId: pulumi.Output<string | undefined>;
  public readonly deploymentName: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  public readonly allowedCallers: pulumi.Output<string[]>;
  public readonly allowedServers: pulumi.Output<string[]>;
  /** Plain values, for the graph and for checks at construction. */
  public readonly identityValue: string;
  public readonly spec: GatewaySpec;
  /** With `register: false`, the member to add to a SpireEntrySet. */
  public readonly entry: EntrySetMember;
  /** The Envoy bootstrap, for review and validation; undefined on appmesh. */
  public readonly bootstrap?: Record<string, unknown>;

  /** The SPIFFE ID a gateway of these names gets by default, known before the gateway (or its targets) exist. */
  static identityOf(
    installation: SpireInstallation,
    g: { readonly name: string; readonly namespace: string; readonly serviceAccount?: string },
  ): string {
    return `spiffe://${installation.settings.trustDomain}/ns/${g.namespace}/sa/${g.serviceAccount ?? g.name}`;
  }

  /**
   * @param name The _unique_ name of this component; children are named after it.
   * @param args The gateway's identity, listener, routes and backends.
   * @param opts A bag of options that control this resource's behavior.
   */
  constructor(name: string, args: MtlsVirtualGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    const subject = `MtlsVirtualGateway ${name}`;
    const k8sName = args.name ?? name;
    const settings = args.installation.settings;
    const identity =
      args.identity ?? MtlsVirtualGateway.identityOf(args.installation, { ...args, name: k8sName });
    const c = new Checker(subject);
    // Its listener's rules check the callers (gatewayPlan); a MeshWorkload among them joins as its identity.
    const callers = (args.listener?.callers ?? []).map((x) =>
      x instanceof MeshWorkload ? x.identityValue : x,
    );
    const egress = (args.backends ?? []).flatMap((b, i) => {
      // Remote (federated) backends are MeshWorkload's: a gateway routes to what this stack deploys.
      const known =
        b instanceof MeshWorkload || (typeof b === "object" && b !== null && Array.isArray(b.routes));
      if (!c.check(known, `backends[${i}]`, b, "must be a MeshWorkload or a RoutedBackend")) return [];
      const node = b instanceof MeshWorkload ? (graphNodeOf(b) as WorkloadNode) : routedNodeOf(b);
      return [egressOf(node, identity, args.namespace, c, `backends[${i}]`)];
    });
    const entryName = args.entryName ?? k8sName;
    const takeNames = claimNames(
      args.installation,
      subject,
      {
        name: `Deployment ${args.namespace}/${k8sName}`,
        serviceName: `Service ${args.namespace}/${k8sName}`,
        entryName: `entry ${entryName}`,
      },
      c,
    );
    c.done();
    const dataPlane = args.dataPlane ?? DataPlane.Envoy;
    const plan = gatewayPlan({
      name: k8sName,
      namespace: args.namespace,
      trustDomain: settings.trustDomain,
      identity,
      serviceAccount: args.serviceAccount,
      podLabels: args.podLabels,
      listener: { ...args.listener, callers: callers as string[] },
      backends: egress,
      routes: args.routes,
      replicas: args.replicas,
      serviceType: args.serviceType,
      dataPlane,
      meshName: args.meshName,
      envoyImage: args.envoyImage,
      sdsSocketPath: settings.agentSocketPath,
      workloadApi:
        settings.workloadApi === "csi" ? { csiDriver: settings.csiDriverName } : { hostPath: true },
    });
    const spec = plan.spec;
    const entry: EntrySetMember = {
      name: entryName,
      ...gatewayEntry(spec, args.installation.nodeAlias.spiffeId, args.x509SvidTtl),
    };
    // SpireEntry takes the entry resolved here, before anything is registered, rather than resolving it again.
    const target = entryTarget(subject, { settings });
    const resolved = resolveEntry(
      subject,
      deriveEntryId(pulumi.getProject(), pulumi.getStack(), entryName),
      entry,
      target,
    );
    takeNames();
    super("spire-mesh:index:MtlsVirtualGateway", name, {}, opts);

    const o = plan.objects;
    const make = (suffix: string, object: typeof o.service, dependsOn: pulumi.Resource[] = []) =>
      kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn });
    const account = make("service-account", o.serviceAccount);
    const config = o.configMap ? make("envoy-bootstrap", o.configMap) : undefined;
    // App Mesh finds a GatewayRoute's gateway when the route is created, and the pod's when it is admitted.
    const gateway = o.virtualGateway ? make("virtual-gateway", o.virtualGateway) : undefined;
    for (const route of o.gatewayRoutes)
      make(`route-${route.metadata.name}`, route, gateway ? [gateway] : []);
    make("service", o.service);
    make("network-policy", o.networkPolicy);
    make("deployment", o.deployment, [
      account,
      ...(config ? [config] : []),
      ...(gateway ? [gateway] : []),
      args.installation,
    ]);
    const registered = memberEntry(this, entry, args, { target, entry: resolved });
    if (args.registeredIdentities) {
      const known = [...args.registeredIdentities, ...(registered ? [identity] : [])];
      for (const message of unregisteredWarnings(
        k8sName,
        identity,
        spec.listener.callers,
        spec.allowedServers,
        known,
        "gateway",
      )) {
        pulumi.log.warn(message, this);
      }
    }

    this.identityValue = identity;
    this.spec = spec;
    this.entry = entry;
    this.bootstrap = plan.bootstrap;
    this.gatewayName = pulumi.output(k8sName);
    this.identity = pulumi.output(identity);
    this.entryId = registered ? registered.entryId : pulumi.output(undefined);
    this.deploymentName = pulumi.output(k8sName);
    this.serviceName = pulumi.output(k8sName);
    this.allowedCallers = pulumi.output([...spec.listener.callers]);
    this.allowedServers = pulumi.output([...spec.allowedServers]);
    this.registerOutputs({
      gatewayName: this.gatewayName,
      identity: this.identity,
      entryId: this.entryId,
      deploymentName: this.deploymentName,
      serviceName: this.serviceName,
      allowedCallers: this.allowedCallers,
      allowedServers: this.allowedServers,
    });
  }
}
