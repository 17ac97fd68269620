/**
 * Tolerations of the node-level DaemonSets (SPIRE agent, CSI driver). By default they tolerate every taint: a
 * node without an agent leaves its meshed pods waiting on the socket mount forever. Pure.
 */
import type { Checker } from "../core/validation";

export interface Toleration {
  readonly key?: string;
  readonly operator?: "Exists" | "Equal";
  readonly value?: string;
  readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  readonly tolerationSeconds?: number;
}

/** Every taint, as system DaemonSets (kube-proxy, CNI agents) tolerate. */
export const TOLERATE_ALL: readonly Toleration[] = [{ operator: "Exists" }];

const EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

/** Kubernetes' own rules for a toleration (core/v1 validation), so a bad one fails here, not at the API server. */
export function checkTolerations(c: Checker, field: string, tolerations: readonly Toleration[]): void {
  for (const [i, t] of tolerations.entries()) {
    const at = `${field}[${i}]`;
    const operator = t.operator ?? "Equal";
    c.check(["Exists", "Equal"].includes(operator), `${at}.operator`, t.operator, "must be Exists or Equal");
    if (operator === "Exists") {
      c.check(!t.value, `${at}.value`, t.value, "must be empty when operator is Exists");
    } else {
      c.check(
        !!t.key,
        `${at}.key`,
        t.key,
        "is required when operator is Equal (only Exists may match every key)",
      );
    }
    if (t.effect !== undefined)
      c.check(EFFECTS.includes(t.effect), `${at}.effect`, t.effect, `must be one of ${EFFECTS.join(", ")}`);
    if (t.tolerationSeconds !== undefined) {
      c.check(
        t.effect === "NoExecute" && Number.isInteger(t.tolerationSeconds),
        `${at}.tolerationSeconds`,
        t.tolerationSeconds,
        "is an integer that applies only with effect NoExecute",
      );
    }
  }
}
