/**
 * Which names each meshed component took under one installation (its Deployment, Service and entry), and by
 * whom; the rule that two may not share one is mesh/nameClaims.ts.
 */
import type { Checker } from "../core/validation";
import { checkNamesFree } from "../mesh/nameClaims";
import type { SpireInstallation } from "./spireInstallation";

const claimedNames = new WeakMap<SpireInstallation, Map<string, string>>();

/** The names taken under `installation` so far (`"<Kind> <name>"` -> the component that took it). */
export function takenNames(installation: SpireInstallation): Map<string, string> {
  const claimed = claimedNames.get(installation) ?? new Map<string, string>();
  claimedNames.set(installation, claimed);
  return claimed;
}

/** Takes the names (`field -> "<Kind> <name>"`) for `owner` (e.g. "MeshWorkload ledger"), once all checks passed. */
export function takeNames(
  installation: SpireInstallation,
  owner: string,
  names: Record<string, string>,
): void {
  const claimed = takenNames(installation);
  for (const key of Object.values(names)) claimed.set(key, owner);
}

/**
 * Checks that the names are free; the returned function takes them for `owner`, once every other check has
 * passed.
 */
export function claimNames(
  installation: SpireInstallation,
  owner: string,
  names: Record<string, string>,
  c: Checker,
): () => void {
  checkNamesFree(c, takenNames(installation), names);
  return () => takeNames(installation, owner, names);
}
