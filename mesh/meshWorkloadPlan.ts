/**
 * A MeshWorkload's plan from plain arguments: its workload, identity, callers, backends and federated trust
 * domains resolved and checked once, its virtual node planned and its entry resolved, so the component only
 * creates resources and its children (MtlsVirtualNode, SpireEntry) take the plan instead of checking again.
 * Callers, backends and route targets that are MeshWorkloads arrive as WorkloadNodes. Pure.
 */
import { Checker } from "../core/validation";
import { deriveEntryId, type EntrySpec, type ResolvedEntry, resolveEntry } from "../spire/entries";
import type { EntrySetMember } from "../spire/entrySet";
import { type EntryTarget, entryTarget } from "../spire/entryTarget";
import { federatedMemberDomain } from "../spire/federation";
import type { SpireSettings } from "../spire/settings";
import { checkWorkloadId } from "../spire/spiffeId";
import type { AuthorizationArgs } from "./authorization";
import { checkCallers } from "./callers";
import { DataPlane } from "./envoySidecar";
import { type MeshNodeArgs, type MeshNodePlan, meshNodePlan } from "./meshNode";
import { checkNamesFree } from "./nameClaims";
import type { EgressPeer } from "./networkPolicy";
import { type RemoteBackend, remoteEgress } from "./remoteBackend";
import { TlsMode, type VirtualNodeArgs } from "./virtualNode";
import {
  type WorkloadArgs,
  type WorkloadSpec,
  type WorkloadTraffic,
  workloadEntry,
  workloadSpec,
} from "./workload";
import { egressOf, type RoutedBackendOf, WorkloadNode } from "./workloadGraph";

/**
 * MeshWorkloadArgs (components/meshWorkload.ts documents each field) as plain values, plus the installation's:
 * the node's fields typed as its virtual node takes them, the entry's as SpireEntry does.
 */
export interface MeshWorkloadPlanArgs
  extends WorkloadArgs,
    Pick<
      MeshNodeArgs,
      "tlsMode" | "identity" | "federatesWith" | "healthCheck" | "dataPlane" | "envoyImage" | "meshName"
    >,
    Pick<EntrySpec, "x509SvidTtl"> {
  /** Names the component in every message, e.g. "MeshWorkload ledger". */
  readonly subject: string;
  /** WorkloadNodes, local callers `{ identity, pods }`, or SPIFFE IDs; anything else is reported. */
  readonly callers?: readonly unknown[];
  /** Authorization rules, their callers as SPIFFE IDs or local callers `{ identity }`. */
  readonly authorization?: AuthorizationArgs;
  /** WorkloadNodes, routed virtual services, or remote backends. */
  readonly backends?: readonly (WorkloadNode | RoutedBackendOf<unknown> | RemoteBackend)[];
  readonly entryName?: string;
  readonly register?: boolean;
  readonly registeredIdentities?: readonly string[];
  /** The installation's checked settings. */
  readonly settings: SpireSettings;
  /** The installation's agent alias: its workload entries' parent. */
  readonly agentAliasId: string;
  /** Names other components took under the installation (`"<Kind> <name>"` -> who took it). */
  readonly takenNames: ReadonlyMap<string, string>;
  /** The Pulumi project and stack, from which the entry's ID derives. */
  readonly project: string;
  readonly stack: string;
}

export interface MeshWorkloadPlan {
  readonly workload: WorkloadSpec;
  readonly identity: string;
  readonly dataPlane: DataPlane;
  /** The SPIFFE IDs its listener admits, and those of the workloads behind its backends. */
  readonly allowedCallers: readonly string[];
  readonly allowedServers: readonly string[];
  /** Its NetworkPolicy's sources and destinations. */
  readonly traffic: WorkloadTraffic;
  /** What its callers and backends' callers see of it. */
  readonly graphNode: WorkloadNode;
  /** Its MtlsVirtualNode's arguments and their plan. */
  readonly node: {
    readonly args: MeshNodeArgs & { readonly registeredIdentities?: readonly string[] };
    readonly plan: MeshNodePlan;
  };
  /** Its entry as a SpireEntrySet member, resolved against its server (SpireEntry's arguments and plan). */
  readonly entry: EntrySetMember;
  readonly resolvedEntry: { readonly target: EntryTarget; readonly entry: ResolvedEntry };
  /** The names it takes under the installation once it is created (`field -> "<Kind> <name>"`). */
  readonly names: Record<string, string>;
}

const isRemote = (b: unknown): b is RemoteBackend =>
  !(b instanceof WorkloadNode) && !("routes" in (b as object));
const APP_PORT = 8080;

export const notFederatedRule = (federated: readonly string[]): string =>
  `is not federated by the installation (federation.federatesWith: ${federated.join(", ") || "none"})`;

/** Every rule of a MeshWorkload's arguments, each checked once; throws all problems of a stage at once. */
export function planMeshWorkload(args: MeshWorkloadPlanArgs): MeshWorkloadPlan {
  const { subject, settings } = args;
  const w = workloadSpec(subject, args);
  const c = new Checker(subject);
  const identity =
    args.identity ?? `spiffe://${settings.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
  c.attempt("identity", identity, () => checkWorkloadId(identity, settings.trustDomain));
  // What the installation federates with bounds every foreign ID; the domains in use join the entry's list.
  const federated = (settings.federation?.federatesWith ?? []).map((p) => p.trustDomain);
  const foreign = new Set<string>();
  for (const [i, td] of (args.federatesWith ?? []).entries()) {
    const name = typeof td === "string" ? td.replace(/^spiffe:\/\//, "") : td;
    if (c.check(federated.includes(name), `federatesWith[${i}]`, td, notFederatedRule(federated)))
      foreign.add(name);
  }
  // A workload caller was checked when it was planned; it joins as its identity and pods.
  const callers = checkCallers(
    c,
    (args.callers ?? []).map((x) => (x instanceof WorkloadNode ? { identity: x.identity, pods: x.pods } : x)),
    { at: (i) => `callers[${i}]`, trustDomain: settings.trustDomain, federated, podCallers: true },
  );
  for (const td of callers.foreignDomains) foreign.add(td);
  // Egress: a local backend's target pods at their app port; a remote one's port, at any address.
  const backendPeers: EgressPeer[] = [];
  const egress = (args.backends ?? []).map((b, i) => {
    if (!isRemote(b)) {
      const local = egressOf(b, identity, w.namespace, c, `backends[${i}]`);
      for (const r of local.routes) {
        backendPeers.push({
          pods: { namespace: r.target.namespace, podLabels: r.target.podSelector },
          port: r.target.port ?? APP_PORT,
        });
      }
      return local;
    }
    backendPeers.push({ port: b.port ?? APP_PORT });
    const td = c.attempt(`backends[${i}].identity`, b.identity, () =>
      checkWorkloadId(b.identity, federatedMemberDomain(b.identity, settings.trustDomain, federated)),
    );
    if (td && td.trustDomain !== settings.trustDomain) foreign.add(td.trustDomain);
    return remoteEgress(b, w.namespace, td?.trustDomain ?? settings.trustDomain);
  });
  const federatesWith = [...foreign].sort();
  const entryName = args.entryName ?? w.name;
  const names = {
    name: `Deployment ${w.namespace}/${w.name}`,
    serviceName: `Service ${w.namespace}/${w.serviceName}`,
    entryName: `entry ${entryName}`,
  };
  checkNamesFree(c, args.takenNames, names);
  c.done();

  const servers = [...new Set(egress.flatMap((e) => e.routes.map((r) => r.target.identity as string)))];
  const dataPlane = args.dataPlane ?? DataPlane.Envoy;
  const tlsMode = args.tlsMode ?? (callers.ids.length > 0 ? TlsMode.Strict : undefined);
  const nodeArgs: VirtualNodeArgs = {
    name: w.name,
    namespace: w.namespace,
    podSelector: w.podLabels,
    trustDomain: settings.trustDomain,
    identity,
    port: w.port,
    protocol: w.protocol,
    tlsMode,
    allowedCallers: callers.ids,
    backends: egress.map((e) => e.virtualService),
    allowedServers: servers,
    hostname: w.hostname,
    federatesWith,
    ...(args.healthCheck ? { healthCheck: args.healthCheck } : {}),
    ...(args.authorization ? { authorization: args.authorization } : {}),
  };
  const entry: EntrySetMember = {
    name: entryName,
    ...workloadEntry(w, identity, args.agentAliasId, args.x509SvidTtl),
    ...(federatesWith.length > 0 ? { federatesWith } : {}),
  };
  const virtualNodeArgs = {
    ...nodeArgs,
    dataPlane,
    ...(args.meshName ? { meshName: args.meshName } : {}),
    ...(dataPlane === DataPlane.Envoy
      ? {
          egress,
          ...(args.envoyImage ? { envoyImage: args.envoyImage } : {}),
          sdsSocketPath: settings.agentSocketPath,
          workloadApi:
            settings.workloadApi === "csi"
              ? { csiDriver: settings.csiDriverName }
              : { hostPath: true as const },
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
  // The node's own rules (listener TLS against its callers, egress, data plane); its callers are checked above.
  const nodePlan = meshNodePlan(virtualNodeArgs, callers);
  const target = entryTarget(subject, { settings });
  const resolved = resolveEntry(subject, deriveEntryId(args.project, args.stack, entryName), entry, target);
  return {
    workload: w,
    identity,
    dataPlane,
    allowedCallers: callers.ids,
    allowedServers: servers,
    // Only a STRICT listener's callers bound who may connect at all; otherwise any source may.
    traffic: {
      ...(tlsMode === TlsMode.Strict && callers.pods ? { callers: callers.pods } : {}),
      backends: backendPeers,
    },
    graphNode: new WorkloadNode(identity, callers.ids, nodeArgs),
    node: { args: virtualNodeArgs, plan: nodePlan },
    entry,
    resolvedEntry: { target, entry: resolved },
    names,
  };
}
