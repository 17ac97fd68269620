/**
 * Names each meshed component takes under one installation (its Deployment, Service and entry), and which
 * component took them: two given the same name would overwrite each other's objects, or share one entry ID.
 */
import type { Checker } from "../core/validation";
import type { SpireInstallation } from "./spireInstallation";

const claimedNames = new WeakMap<SpireInstallation, Map<string, string>>();

/**
 * Checks that the names (`field -> "<Kind> <name>"`) are free; the returned function takes them for `owner`
 * (e.g. "MeshWorkload ledger"), once every other check has passed.
 */
export function claimNames(
  installation: SpireInstallation,
  owner: string,
  names: Record<string, string>,
  c: Checker,
): () => void {
  const claimed = claimedNames.get(installation) ?? new Map<string, string>();
  claimedNames.set(installation, claimed);
  for (const [field, key] of Object.entries(names)) {
    c.check(!claimed.has(key), field, key.split(" ")[1], `is already taken by ${claimed.get(key)}`);
  }
  return () => {
    for (const key of Object.values(names)) claimed.set(key, owner);
  };
}
