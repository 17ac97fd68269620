/**
 * What the eks stack's gp3 class does with the volumes it provisions, the servers' CA keys and the sqlite
 * datastore among them: tagged with the stack, and deleted with their claims unless spireKeepVolumes is set.
 *
 * Delete, not Retain, by default: a Retained volume outlives the cluster as an untracked EBS volume holding a CA
 * private key, which is what destroy must not leave behind. Accidental loss is guarded elsewhere: the sqlite
 * claim is protected (spireProtectData) and every replica's key claim is its own Pulumi resource, so only an
 * explicit destroy (or a scale-down) removes a claim. Who needs the keys after destroy sets spireKeepVolumes.
 */
import { stackTags } from "./awsTags";

/** The tags the EBS CSI driver puts on every volume of the class (its tagSpecification_<n> parameters). */
export const volumeTags = (): Record<string, string> => ({
  ...stackTags(),
  "spire-mesh:purpose": "spire-server-data",
});

/** The gp3 class's parameters and reclaim policy. */
export function gp3Class(keepVolumes: boolean): {
  parameters: Record<string, string>;
  reclaimPolicy: "Delete" | "Retain";
} {
  const tags = Object.entries(volumeTags()).map(([key, value], i) => [
    `tagSpecification_${i + 1}`,
    `${key}=${value}`,
  ]);
  return {
    parameters: { type: "gp3", encrypted: "true", ...Object.fromEntries(tags) },
    reclaimPolicy: keepVolumes ? "Retain" : "Delete",
  };
}
