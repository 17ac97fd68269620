import * as pulumi from "@pulumi/pulumi";
import { type AuthorizationArgs, resolveRuleCallers } from "../mesh/authorization";
import { planMeshWorkload } from "../mesh/meshWorkloadPlan";
import type { PodGroup } from "../mesh/networkPolicy";
import type { RemoteBackend } from "../mesh/remoteBackend";
import type { HealthCheckArgs, ListenerProtocol, TlsMode, VirtualNodeArgs } from "../mesh/virtualNode";
import { type Container, workloadObjects } from "../mesh/workload";
import { type RoutedBackendOf, WorkloadNode } from "../mesh/workloadGraph";
import type { EntrySetMember } from "../spire/entrySet";
import { kubernetesObject } from "./kubernetesObject";
import { type MeshMemberArgs, memberEntry } from "./meshMemberArgs";
import { MtlsVirtualNode } from "./mtlsVirtualNode";
import { podSecurityLevel, warnUnlabelledNamespace } from "./podSecurityNotice";
import type { SpireInstallation } from "./spireInstallation";
import { takeNames, takenNames } from "./workloadNames";

export type { PodGroup } from "../mesh/networkPolicy";
export type { RemoteBackend } from "../mesh/remoteBackend";
export type { Container } from "../mesh/workload";

/** A virtual service in front of several workloads, each route to a MeshWorkload. */
export type RoutedBackend = RoutedBackendOf<MeshWorkload>;

/** What a workload calls: another workload (its Service), a virtual service routing to several, or a remote one. */
export type Backend = MeshWorkload | RoutedBackend | RemoteBackend;

/**
 * A caller in this cluster that is created after what it calls (it needs its backends first): its SPIFFE ID, and
 * where its pods run, so the NetworkPolicy admits exactly them.
 */
export interface LocalCaller {
  readonly identity: string;
  readonly pods: PodGroup;
}

/** A caller: a workload, a local caller created later, or a SPIFFE ID alone (its pods unknown here). */
export type Caller = MeshWorkload | LocalCaller | string;

/**
 * Everything MeshWorkload's constructor takes: its workload (containers and pod), its place in the mesh graph
 * (callers, backends, TLS, identity), and, from MeshMemberArgs, its data plane and SPIRE entry.
 */
export interface MeshWorkloadArgs extends MeshMemberArgs {
  /** Kubernetes name of its Deployment and virtual node. Default: the component's name. */
  readonly name?: string;
  /** Namespace of its Deployment, Service, ServiceAccount and virtual node; part of its default SPIFFE ID. */
  readonly namespace: string;
  /** The SPIRE that gives it its identity: its agents' alias parents the entry, its socket reaches the sidecar. */
  readonly installation: SpireInstallation;
  /** The app: one or more containers. None may be named `envoy` (the sidecar's name, which SPIRE selects). */
  readonly containers: readonly Container[];
  /** Pods of its Deployment, 0-1000. Default: 1. */
  readonly replicas?: number;
  /** Its own ServiceAccount, created with no token mounted. Default: the workload's name. */
  readonly serviceAccount?: string;
  /**
   * The app's port: where the sidecar sends mesh traffic, and the Service's port. Not one of the sidecar's own
   * ports. Default: 8080.
   */
  readonly port?: number;
  /** Protocol the app speaks on `port` (http, http2, grpc, tcp). Default: http. */
  readonly protocol?: ListenerProtocol;
  /** Labels of its pods (at least one); its SVID is bound to them. Default: `{ app: <name> }`. */
  readonly podLabels?: Readonly<Record<string, string>>;
  /** Its Service's name. Default: the workload's name. */
  readonly serviceName?: string;
  /** Pod volumes the app needs (e.g. its code), beside the data plane's own. Default: none. */
  readonly volumes?: readonly Readonly<Record<string, unknown>>[];
  /** Annotations of its pods; on a clash the data plane's own annotations win. Default: none. */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** Seconds the app keeps serving after deletion starts while its endpoint goes away, 0-300. Default: 5. */
  readonly drainSeconds?: number;
  /**
   * Who may call it: other workloads, local callers, or SPIFFE IDs. With callers the listener is STRICT, and its
   * NetworkPolicy admits only their pods when every caller's pods are known (a SPIFFE ID alone opens the port).
   * Default: none, so no one calls it over mTLS (an edge workload). Conflicts with `tlsMode` PERMISSIVE.
   */
  readonly callers?: readonly Caller[];
  /** What it calls. Each must admit it among its callers. Default: none, it calls nothing in the mesh. */
  readonly backends?: readonly Backend[];
  /**
   * Listener TLS. Default: STRICT when it has callers, none otherwise (an edge workload whose callers are outside
   * the mesh, like the walkthrough's front). Conflicts with `callers` when PERMISSIVE.
   */
  readonly tlsMode?: TlsMode;
  /** Its SPIFFE ID. Default: `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>`. */
  readonly identity?: string;
  /**
   * Federated trust domains its entry federates with, so it receives their bundles; every one must be federated
   * by the installation. Default: none beyond those its callers and remote backends of other trust domains add.
   */
  readonly federatesWith?: readonly string[];
  /** Active health check on its listener (path, interval, timeout, thresholds). Default: the walkthrough's. */
  readonly healthCheck?: HealthCheckArgs;
  /**
   * Which of its callers may do what (path, methods, a header on HTTP; connect on tcp); anything no rule allows
   * is denied, or only counted in mode "shadow". Default: none, every caller may do anything. STRICT listeners on
   * the envoy data plane only.
   */
  readonly authorization?: AuthorizationArgs<Caller>;
}

/** A MeshWorkload as the mesh graph's builders take it; anything else as given, for them to judge. */
export const graphNodeOf = (x: unknown): unknown =>
  x instanceof MeshWorkload ? new WorkloadNode(x.identityValue, x.allowedCallers, x.nodeArgs) : x;

/** A routed backend with its route targets as graph nodes. */
export const routedNodeOf = (b: RoutedBackend): RoutedBackendOf<unknown> => ({
  ...b,
  routes: (b.routes ?? []).map((r) => ({ ...r, target: graphNodeOf(r.target) })),
});

/** A backend with its workloads (itself, or its route targets) as graph nodes. */
const backendNodeOf = (b: Backend): WorkloadNode | RoutedBackendOf<unknown> | RemoteBackend =>
  b instanceof MeshWorkload
    ? (graphNodeOf(b) as WorkloadNode)
    : typeof b === "object" && b !== null && "routes" in b
      ? routedNodeOf(b)
      : b;

/**
 * One meshed service in one component: the user's containers in a Deployment with the Envoy sidecar (or the App
 * Mesh injection labels), its own ServiceAccount, Service and NetworkPolicy, its mTLS policy (MtlsVirtualNode)
 * and its SPIRE entry, kept consistent: the entry's selectors are derived from what is deployed (namespace,
 * ServiceAccount, its pod labels, the sidecar's container name), so no one writes a selector.
 *
 * Allowed callers and servers come from the graph: callers are given here; servers are the workloads behind its
 * backends, each of which must list it among its callers. Create a workload after those it calls.
 */
export class MeshWorkload extends pulumi.ComponentResource {
  public readonly identity: pulumi.Output<string>;
  public readonly entryId: pulumi.Output<string | undefined>;
  public readonly deploymentName: pulumi.Output<string>;
  public readonly serviceName: pulumi.Output<string>;
  /** Prints the name of one of its pods. */
  public readonly podNameCommand: pulumi.Output<string>;
  /** Plain values, for the graph and for checks at construction. */
  public readonly identityValue: string;
  public readonly allowedCallers: readonly string[];
  public readonly nodeArgs: VirtualNodeArgs;
  /** With `register: false`, the member to add to a SpireEntrySet. */
  public readonly entry: EntrySetMember;
  public readonly virtualNode: MtlsVirtualNode;

  /**
   * @param name The _unique_ name of this component; children are named after it.
   * @param args Its workload, its callers and backends, and its data plane and entry.
   * @param opts A bag of options that control this resource's behavior.
   */
  constructor(name: string, args: MeshWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    const subject = `MeshWorkload ${name}`;
    const settings = args.installation.settings;
    // Every rule is checked here, before anything is registered; the children take the plan as it is.
    const plan = planMeshWorkload({
      ...args,
      subject,
      name: args.name ?? name,
      callers: (args.callers ?? []).map(graphNodeOf),
      backends: (args.backends ?? []).map(backendNodeOf),
      // A workload in a rule stands for its exact SPIFFE ID, as it does among the callers.
      authorization:
        args.authorization &&
        resolveRuleCallers(args.authorization, (x) => (x instanceof MeshWorkload ? x.identityValue : x)),
      settings,
      agentAliasId: args.installation.nodeAlias.spiffeId,
      takenNames: takenNames(args.installation),
      project: pulumi.getProject(),
      stack: pulumi.getStack(),
    });
    const w = plan.workload;
    takeNames(args.installation, subject, plan.names);
    super("spire-mesh:index:MeshWorkload", name, {}, opts);
    warnUnlabelledNamespace(
      this,
      subject,
      args.installation,
      w.namespace,
      podSecurityLevel(plan.dataPlane, settings.workloadApi),
      opts?.dependsOn,
    );

    this.virtualNode = new MtlsVirtualNode(name, plan.node.args, { parent: this }, plan.node.plan);
    const registered = memberEntry(this, plan.entry, args, plan.resolvedEntry);
    const objects = workloadObjects(w, plan.dataPlane, plan.traffic, this.virtualNode.podAdditions);
    const make = (suffix: string, object: typeof objects.service, dependsOn: pulumi.Resource[] = []) =>
      kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn });
    const account = make("service-account", objects.serviceAccount);
    make("service", objects.service);
    make("network-policy", objects.networkPolicy);
    // The pods mount the agent's socket (CSI driver or hostPath) and their bootstrap, and on appmesh the
    // injector looks their virtual node up at admission: all of it first.
    make("deployment", objects.deployment, [account, this.virtualNode, args.installation]);

    this.identityValue = plan.identity;
    this.allowedCallers = plan.allowedCallers;
    this.nodeArgs = plan.graphNode.nodeArgs;
    this.entry = plan.entry;
    this.identity = pulumi.output(plan.identity);
    this.entryId = registered ? registered.entryId : pulumi.output(undefined);
    this.deploymentName = pulumi.output(w.name);
    this.serviceName = pulumi.output(w.serviceName);
    const selector = Object.entries(w.podLabels)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    this.podNameCommand = pulumi.output(
      `kubectl get pod -n ${w.namespace} -l ${selector} -o jsonpath='{.items[0].metadata.name}'`,
    );
    this.registerOutputs({
      identity: this.identity,
      entryId: this.entryId,
      deploymentName: this.deploymentName,
      serviceName: this.serviceName,
      podNameCommand: this.podNameCommand,
      allowedCallers: pulumi.output([...plan.allowedCallers]),
      allowedServers: pulumi.output([...plan.allowedServers]),
    });
  }
}
