import * as pulumi from "@pulumi/pulumi";
import { Checker } from "../core/validation";
import { type AuthorizationArgs, resolveRuleCallers } from "../mesh/authorization";
import { checkCallers } from "../mesh/callers";
import { DataPlane } from "../mesh/envoySidecar";
import { type EgressServiceArgs, meshNodePlan } from "../mesh/meshNode";
import type { EgressPeer, PodGroup } from "../mesh/networkPolicy";
import { type RemoteBackend, remoteEgress } from "../mesh/remoteBackend";
import { type HealthCheckArgs, TlsMode, type VirtualNodeArgs } from "../mesh/virtualNode";
import {
  type WorkloadArgs,
  type WorkloadTraffic,
  workloadEntry,
  workloadObjects,
  workloadSpec,
} from "../mesh/workload";
import { deriveEntryId, resolveEntry } from "../spire/entries";
import type { EntrySetMember } from "../spire/entrySet";
import { entryTarget } from "../spire/entryTarget";
import { federatedMemberDomain } from "../spire/federation";
import { checkWorkloadId } from "../spire/spiffeId";
import { kubernetesObject } from "./kubernetesObject";
import type { MeshMemberArgs } from "./meshMemberArgs";
import { MtlsVirtualNode, type MtlsVirtualNodeArgs } from "./mtlsVirtualNode";
import { podSecurityLevel, warnUnlabelledNamespace } from "./podSecurityNotice";
import { SpireEntry } from "./spireEntry";
import type { SpireInstallation } from "./spireInstallation";
import { claimNames } from "./workloadNames";

export type { PodGroup } from "../mesh/networkPolicy";
export type { RemoteBackend } from "../mesh/remoteBackend";
export type { Container, WorkloadArgs } from "../mesh/workload";

/** A virtual service in front of several workloads: header routes, in priority order (first match wins). */
export interface RoutedBackend {
  readonly virtualService: string;
  /** Host name callers dial. Default `<virtualService>.<namespace>.svc.cluster.local`. */
  readonly hostname?: string;
  readonly port?: number;
  readonly routes: readonly {
    readonly name: string;
    /** Unset: the route takes everything (last route only). */
    readonly header?: string;
    readonly value?: string;
    readonly target: MeshWorkload;
  }[];
}

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

export interface MeshWorkloadArgs extends Omit<WorkloadArgs, "name" | "namespace">, MeshMemberArgs {
  /** Kubernetes name of its Deployment and virtual node. Default: the component's name. */
  readonly name?: string;
  /** Namespace of its Deployment, Service, ServiceAccount and virtual node; part of its default SPIFFE ID. */
  readonly namespace: string;
  /** The SPIRE that gives it its identity: its agents' alias parents the entry, its socket reaches the sidecar. */
  readonly installation: SpireInstallation;
  /**
   * Who may call it: other workloads, local callers, or SPIFFE IDs. With callers the listener is STRICT, and its
   * NetworkPolicy admits only their pods when every caller's pods are known (a SPIFFE ID alone opens the port).
   */
  readonly callers?: readonly Caller[];
  /** What it calls. Each must admit it among its callers. */
  readonly backends?: readonly Backend[];
  /**
   * Listener TLS. Default STRICT when it has callers, none otherwise (an edge workload whose callers are outside
   * the mesh, like the walkthrough's front). PERMISSIVE takes no callers.
   */
  readonly tlsMode?: TlsMode;
  /** Its SPIFFE ID. Default `spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>`. */
  readonly identity?: string;
  /**
   * Federated trust domains its entry federates with, so it receives their bundles. Callers and remote
   * backends of other trust domains add theirs; every one must be federated by the installation.
   */
  readonly federatesWith?: readonly string[];
  /** Active health check on its listener (path, interval, timeout, thresholds). Defaults are the walkthrough's. */
  readonly healthCheck?: HealthCheckArgs;
  /**
   * Which of its callers may do what (path, methods, a header on HTTP; connect on tcp); anything no rule allows
   * is denied, or only counted in mode "shadow". STRICT and the envoy data plane only.
   */
  readonly authorization?: AuthorizationArgs<Caller>;
}

const isWorkload = (x: unknown): x is MeshWorkload => x instanceof MeshWorkload;
const isRemote = (x: Backend): x is RemoteBackend => !isWorkload(x) && !("routes" in x);
const podsOf = (n: VirtualNodeArgs): PodGroup => ({ namespace: n.namespace, podLabels: n.podSelector });

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

  constructor(name: string, args: MeshWorkloadArgs, opts?: pulumi.ComponentResourceOptions) {
    const subject = `MeshWorkload ${name}`;
    const w = workloadSpec(subject, { ...args, name: args.name ?? name });
    const settings = args.installation.settings;
    const c = new Checker(subject);
    const identity =
      args.identity ?? `spiffe://${settings.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
    c.attempt("identity", identity, () => checkWorkloadId(identity, settings.trustDomain));
    // What the installation federates with bounds every foreign ID; the domains in use join the entry's list.
    const federated = (settings.federation?.federatesWith ?? []).map((p) => p.trustDomain);
    const foreign = new Set<string>();
    for (const [i, td] of (args.federatesWith ?? []).entries()) {
      const name = typeof td === "string" ? td.replace(/^spiffe:\/\//, "") : td;
      if (
        c.check(
          federated.includes(name),
          `federatesWith[${i}]`,
          td,
          `is not federated by the installation (federation.federatesWith: ${federated.join(", ") || "none"})`,
        )
      )
        foreign.add(name);
    }
    // A workload caller is already checked; it joins as its identity and pods.
    const checked = checkCallers(
      c,
      (args.callers ?? []).map((x) =>
        isWorkload(x) ? { identity: x.identityValue, pods: podsOf(x.nodeArgs) } : x,
      ),
      { at: (i) => `callers[${i}]`, trustDomain: settings.trustDomain, federated, podCallers: true },
    );
    for (const td of checked.foreignDomains) foreign.add(td);
    const callers = checked.ids;
    const callerPods = checked.pods;
    // Egress: a local backend's target pods at their app port; a remote one's port, at any address.
    const backendPeers: EgressPeer[] = [];
    const egress = (args.backends ?? []).map((b, i) => {
      if (!isRemote(b)) {
        const local = egressOf(b, identity, w.namespace, c, `backends[${i}]`);
        for (const r of local.routes)
          backendPeers.push({ pods: podsOf(r.target), port: r.target.port ?? 8080 });
        return local;
      }
      backendPeers.push({ port: b.port ?? 8080 });
      const td = c.attempt(`backends[${i}].identity`, b.identity, () =>
        checkWorkloadId(b.identity, federatedMemberDomain(b.identity, settings.trustDomain, federated)),
      );
      if (td && td.trustDomain !== settings.trustDomain) foreign.add(td.trustDomain);
      return remoteEgress(b, w.namespace, td?.trustDomain ?? settings.trustDomain);
    });
    const federatesWith = [...foreign].sort();
    const entryName = args.entryName ?? w.name;
    const takeNames = claimNames(
      args.installation,
      subject,
      {
        name: `Deployment ${w.namespace}/${w.name}`,
        serviceName: `Service ${w.namespace}/${w.serviceName}`,
        entryName: `entry ${entryName}`,
      },
      c,
    );
    c.done();
    const servers = [...new Set(egress.flatMap((e) => e.routes.map((r) => r.target.identity as string)))];
    const dataPlane = args.dataPlane ?? DataPlane.Envoy;
    const tlsMode = args.tlsMode ?? (callers.length > 0 ? TlsMode.Strict : undefined);
    // Only a STRICT listener's callers bound who may connect at all; otherwise any source may.
    const traffic: WorkloadTraffic = {
      ...(tlsMode === TlsMode.Strict && callerPods ? { callers: callerPods } : {}),
      backends: backendPeers,
    };
    const nodeArgs: VirtualNodeArgs = {
      name: w.name,
      namespace: w.namespace,
      podSelector: w.podLabels,
      trustDomain: settings.trustDomain,
      identity,
      port: w.port,
      protocol: w.protocol,
      tlsMode,
      allowedCallers: callers,
      backends: egress.map((e) => e.virtualService),
      allowedServers: servers,
      hostname: w.hostname,
      federatesWith,
      ...(args.healthCheck ? { healthCheck: args.healthCheck } : {}),
      ...(args.authorization
        ? {
            authorization: resolveRuleCallers(args.authorization, (x) =>
              isWorkload(x) ? x.identityValue : x,
            ),
          }
        : {}),
    };
    const entry: EntrySetMember = {
      name: entryName,
      ...workloadEntry(w, identity, args.installation.nodeAlias.spiffeId, args.x509SvidTtl),
      ...(federatesWith.length > 0 ? { federatesWith } : {}),
    };
    const virtualNodeArgs: MtlsVirtualNodeArgs = {
      ...nodeArgs,
      dataPlane,
      ...(args.meshName ? { meshName: args.meshName } : {}),
      ...(dataPlane === DataPlane.Envoy
        ? {
            egress,
            ...(args.envoyImage ? { envoyImage: args.envoyImage } : {}),
            sdsSocketPath: settings.agentSocketPath,
            workloadApi:
              settings.workloadApi === "csi" ? { csiDriver: settings.csiDriverName } : { hostPath: true },
          }
        : {}),
      // Its own entry counts as registered when it creates it.
      ...(args.registeredIdentities
        ? {
            registeredIdentities: [
              ...args.registeredIdentities,
              ...(args.register === false ? [] : [identity]),
            ],
          }
        : {}),
    };
    // The children's own checks, run here so that bad input fails before anything is registered.
    meshNodePlan(virtualNodeArgs);
    resolveEntry(
      subject,
      deriveEntryId(pulumi.getProject(), pulumi.getStack(), entryName),
      entry,
      entryTarget(subject, { settings }),
    );
    takeNames();
    super("spire-mesh:index:MeshWorkload", name, {}, opts);
    warnUnlabelledNamespace(
      this,
      subject,
      args.installation,
      w.namespace,
      podSecurityLevel(dataPlane, settings.workloadApi),
      opts?.dependsOn,
    );

    this.virtualNode = new MtlsVirtualNode(name, virtualNodeArgs, { parent: this });
    const registered =
      args.register === false
        ? undefined
        : new SpireEntry(
            entryName,
            {
              ...entry,
              installation: args.installation,
              environment: args.environment,
              deleteWithoutServer: args.deleteWithoutServer,
              reassertOn: args.reassertOn,
            },
            { parent: this },
          );
    const objects = workloadObjects(w, dataPlane, traffic, this.virtualNode.podAdditions);
    const make = (suffix: string, object: typeof objects.service, dependsOn: pulumi.Resource[] = []) =>
      kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn });
    const account = make("service-account", objects.serviceAccount);
    make("service", objects.service);
    make("network-policy", objects.networkPolicy);
    // The pods mount the agent's socket (CSI driver or hostPath) and their bootstrap, and on appmesh the
    // injector looks their virtual node up at admission: all of it first.
    make("deployment", objects.deployment, [account, this.virtualNode, args.installation]);

    this.identityValue = identity;
    this.allowedCallers = callers;
    this.nodeArgs = nodeArgs;
    this.entry = entry;
    this.identity = pulumi.output(identity);
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
      allowedCallers: pulumi.output([...callers]),
      allowedServers: pulumi.output(servers),
    });
  }
}

/** How a backend is reached on the envoy data plane; every target must admit `self` among its callers. */
export function egressOf(
  b: MeshWorkload | RoutedBackend,
  self: string,
  namespace: string,
  c: Checker,
  field: string,
): EgressServiceArgs {
  const admits = (target: MeshWorkload, at: string) =>
    c.check(
      target.allowedCallers.includes(self),
      at,
      target.identityValue,
      `does not admit ${self}: add it to the callers of this target (STRICT, with an exact caller list)`,
    );
  if (isWorkload(b)) {
    admits(b, field);
    const host = b.nodeArgs.hostname as string;
    return {
      virtualService: host.split(".")[0],
      hostname: host,
      port: b.nodeArgs.port,
      routes: [{ name: `${b.nodeArgs.name}-route`, target: b.nodeArgs }],
    };
  }
  for (const [j, r] of (b.routes ?? []).entries()) {
    if (c.check(isWorkload(r.target), `${field}.routes[${j}].target`, r.target, "must be a MeshWorkload")) {
      admits(r.target, `${field}.routes[${j}].target`);
    }
  }
  return {
    virtualService: b.virtualService,
    hostname: b.hostname ?? `${b.virtualService}.${namespace}.svc.cluster.local`,
    port: b.port,
    routes: (b.routes ?? [])
      .filter((r) => isWorkload(r.target))
      .map((r) => ({ name: r.name, header: r.header, value: r.value, target: r.target.nodeArgs })),
  };
}
