import type * as pulumi from "@pulumi/pulumi";
import type { DataPlane } from "../mesh/envoySidecar";
import type { ResolvedEntry } from "../spire/entries";
import type { EntrySetMember } from "../spire/entrySet";
import type { EntryTarget } from "../spire/entryTarget";
import { SpireEntry } from "./spireEntry";
import type { SpireInstallation } from "./spireInstallation";

/**
 * What every meshed member (MeshWorkload, MtlsVirtualGateway) takes for its data plane and its SPIRE entry, and
 * how it creates that entry.
 */
export interface MeshMemberArgs {
  /**
   * What carries its mTLS: `envoy`, an Envoy sidecar the component renders and configures over SDS; or
   * `appmesh`, App Mesh resources for its controller. Default: envoy. Conflicts with `envoyImage` when appmesh.
   */
  readonly dataPlane?: DataPlane;
  /**
   * Envoy image of its sidecar. Default: envoyproxy/envoy:v1.39.5. Conflicts with `dataPlane` appmesh (the
   * controller injects its own).
   */
  readonly envoyImage?: string;
  /**
   * Name of the mesh it belongs to: Envoy's node cluster and the prefix of its clusters' names (a lowercase DNS
   * label). Default: its namespace.
   */
  readonly meshName?: string;
  /** The entry's name, from which its ID derives. Default: the member's name. */
  readonly entryName?: string;
  /** X.509-SVID lifetime of its entry. Default: the server's. */
  readonly x509SvidTtl?: string;
  /**
   * Create its SpireEntry (true), or leave registration to a SpireEntrySet of the stack (false): `entry` then
   * holds the member to add to the set. Default: true.
   */
  readonly register?: boolean;
  /**
   * SPIFFE IDs registered in this stack, for the preview warning about peers without an entry. Default: none
   * given, and no such warning.
   */
  readonly registeredIdentities?: readonly string[];
  /**
   * Environment of its SpireEntry's commands (KUBECONFIG, SPIRE_MESH_KUBE_CONTEXT): see SpireEntryArgs.
   * Default: none, kubectl's own (its default kubeconfig and current context).
   */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * On delete, count its entry as deleted when the server's pod or namespace is gone. Default false: see
   * SpireEntryArgs.
   */
  readonly deleteWithoutServer?: boolean;
  /**
   * Any string: changing it re-creates its entry if the server lost it. See SpireEntryArgs. Default: none, only
   * a change of the entry or of the installation's server re-asserts it.
   */
  readonly reassertOn?: pulumi.Input<string>;
}

/** A member's own SpireEntry, from the entry its builder already resolved; none with `register: false`. */
export function memberEntry(
  parent: pulumi.Resource,
  member: EntrySetMember,
  args: MeshMemberArgs & { readonly installation: SpireInstallation },
  planned: { readonly target: EntryTarget; readonly entry: ResolvedEntry },
): SpireEntry | undefined {
  if (args.register === false) return undefined;
  const { installation, environment, deleteWithoutServer, reassertOn } = args;
  return new SpireEntry(
    member.name,
    { ...member, installation, environment, deleteWithoutServer, reassertOn },
    { parent },
    planned,
  );
}
