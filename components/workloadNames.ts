import type { Checker } from "../core/validation";
import type { SpireInstallation } from "./spireInstallation";

/**
 * Names each workload takes under one installation (its Deployment, Service and entry), and which workload took
 * them: two workloads given the same name would overwrite each other's objects, or share one entry ID.
 */
const claimedNames = new WeakMap<SpireInstallation, Map<string, string>>();

/** Checks that the names are free; the returned function takes them, once every other check has passed. */
export function claimNames(
  installation: SpireInstallation,
  owner: string,
  names: Record<string, string>,
  c: Checker,
) {
  const claimed = claimedNames.get(installation) ?? new Map<string, string>();
  claimedNames.set(installation, claimed);
  for (const [field, key] of Object.entries(names)) {
    c.check(
      !claimed.has(key),
      field,
      key.split(" ")[1],
      `is already taken by MeshWorkload ${claimed.get(key)}`,
    );
  }
  return () => {
    for (const key of Object.values(names)) claimed.set(key, owner);
  };
}
