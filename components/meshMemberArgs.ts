import type * as pulumi from "@pulumi/pulumi";
import type { DataPlane } from "../mesh/envoySidecar";

/** What every meshed member (MeshWorkload, MtlsVirtualGateway) takes for its data plane and its SPIRE entry. */
export interface MeshMemberArgs {
  readonly dataPlane?: DataPlane;
  readonly envoyImage?: string;
  readonly meshName?: string;
  /** The entry's name, from which its ID derives. Default: the member's name. */
  readonly entryName?: string;
  /** X.509-SVID lifetime of its entry. Default: the server's. */
  readonly x509SvidTtl?: string;
  /**
   * Create its SpireEntry (default), or leave registration to a SpireEntrySet of the stack (false): `entry` then
   * holds the member to add to the set.
   */
  readonly register?: boolean;
  /** SPIFFE IDs registered in this stack, for the preview warning about peers without an entry. */
  readonly registeredIdentities?: readonly string[];
  /** For its SpireEntry: see SpireEntryArgs. */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly deleteWithoutServer?: boolean;
  readonly reassertOn?: pulumi.Input<string>;
}
