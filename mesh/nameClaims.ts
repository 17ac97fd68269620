/**
 * Names each meshed component takes under one installation (its Deployment, Service and entry): two given the
 * same name would overwrite each other's objects, or share one entry ID. The rule, pure; which names are taken
 * is kept per installation by components/workloadNames.ts.
 */
import type { Checker } from "../core/validation";

export const nameTakenRule = (owner: string | undefined): string => `is already taken by ${owner}`;

/** Checks that each name (`field -> "<Kind> <name>"`) is not among `taken` (name -> the component that took it). */
export function checkNamesFree(
  c: Checker,
  taken: ReadonlyMap<string, string>,
  names: Record<string, string>,
): void {
  for (const [field, key] of Object.entries(names)) {
    c.check(!taken.has(key), field, key.split(" ")[1], nameTakenRule(taken.get(key)));
  }
}
