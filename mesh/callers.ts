/**
 * Who may call a listener: one checker for every list of callers (MeshWorkload's `callers`, a gateway's
 * `listener.callers`, a virtual node's `allowedCallers`), so each rule is worded once. Components resolve their
 * own caller types (a MeshWorkload) to the forms here before checking. Pure.
 */
import { type Checker, isDnsLabel } from "../core/validation";
import { federatedMemberDomain } from "../spire/federation";
import { checkWorkloadId } from "../spire/spiffeId";
import type { PodGroup } from "./networkPolicy";
import { TlsMode } from "./tlsMode";

/** A caller whose pods are known (a local caller, or a workload resolved by its component). */
export interface PodCaller {
  readonly identity: string;
  readonly pods: PodGroup;
}

export const CALLER_FORMS_RULE = "must be a MeshWorkload, a local caller or a SPIFFE ID";
export const CALLER_ID_FORMS_RULE = "must be a MeshWorkload or a SPIFFE ID";
export const CALLER_REPEAT_RULE = "repeats a caller";
export const CALLER_NAMESPACE_RULE = "must be a Kubernetes namespace name";
export const CALLER_POD_LABELS_RULE =
  "must hold at least one label (an empty selector would admit every pod of the namespace)";

export const CALLERS_NEED_TLS_RULE = "need listener TLS (set tlsMode STRICT)";
export const CALLERS_PERMISSIVE_RULE =
  "conflict with tlsMode PERMISSIVE: plaintext callers skip the SAN check, so they restrict nobody; use STRICT " +
  "to admit only these callers";
export const CALLERS_DISABLED_RULE = "conflict with tlsMode DISABLED: without TLS there is no peer to check";
/** `alternative`: what else a STRICT listener may take instead (a gateway's edge certificate). */
export const strictNeedsCallersRule = (alternative?: string): string =>
  `STRICT needs callers: at least one SPIFFE ID to admit${alternative ? ` (or ${alternative})` : ""}`;

export interface CallerRules {
  /** The field of the i-th caller, e.g. `listener.callers[0]`. */
  readonly at: (i: number) => string;
  /** The listener's trust domain; undefined when it is itself invalid (membership is then not checked). */
  readonly trustDomain: string | undefined;
  /** Federated trust domains whose workloads may call too. */
  readonly federated?: readonly string[];
  /** Whether `{ identity, pods }` is accepted besides a SPIFFE ID. */
  readonly podCallers?: boolean;
}

export interface CheckedCallers {
  readonly ids: string[];
  /** Every caller's pods, or undefined once one caller's pods are unknown (a SPIFFE ID alone). */
  readonly pods: PodGroup[] | undefined;
  /** The trust domains of valid callers other than the own. */
  readonly foreignDomains: string[];
}

const isPodCaller = (x: unknown): x is PodCaller => typeof x === "object" && x !== null && "pods" in x;

/** Checks each caller's form, its ID (a workload ID of the own or a federated trust domain), its pods, repeats. */
export function checkCallers(c: Checker, callers: readonly unknown[], rules: CallerRules): CheckedCallers {
  const federated = rules.federated ?? [];
  const ids: string[] = [];
  const foreignDomains: string[] = [];
  let pods: PodGroup[] | undefined = [];
  for (const [i, caller] of callers.entries()) {
    const withPods = rules.podCallers === true && isPodCaller(caller);
    const id = withPods ? caller.identity : caller;
    const field = withPods ? `${rules.at(i)}.identity` : rules.at(i);
    const formRule = rules.podCallers ? CALLER_FORMS_RULE : CALLER_ID_FORMS_RULE;
    if (c.check(typeof id === "string", field, id, formRule) && rules.trustDomain !== undefined) {
      const own = rules.trustDomain;
      const td = c.attempt(field, id, () =>
        checkWorkloadId(id as string, federatedMemberDomain(id as string, own, federated)),
      );
      if (td && td.trustDomain !== own && !foreignDomains.includes(td.trustDomain))
        foreignDomains.push(td.trustDomain);
    }
    if (withPods) {
      const at = `${rules.at(i)}.pods`;
      c.check(
        isDnsLabel(caller.pods?.namespace),
        `${at}.namespace`,
        caller.pods?.namespace,
        CALLER_NAMESPACE_RULE,
      );
      const labels = caller.pods?.podLabels;
      c.check(Object.keys(labels ?? {}).length > 0, `${at}.podLabels`, labels, CALLER_POD_LABELS_RULE);
    }
    c.check(!ids.includes(id as string), rules.at(i), id, CALLER_REPEAT_RULE);
    ids.push(id as string);
    pods = withPods && pods ? [...pods, caller.pods] : undefined;
  }
  return { ids, pods, foreignDomains };
}

/**
 * A listener's TLS mode against its (checked) callers: STRICT admits exactly them, so it needs at least one; with
 * PERMISSIVE, DISABLED or no TLS a caller list would restrict nobody. An unknown mode is its own field's problem.
 */
export function checkListenerCallers(
  c: Checker,
  field: string,
  tlsMode: TlsMode | undefined,
  callers: readonly string[],
  strictAlternative?: string,
): void {
  if (tlsMode === TlsMode.Strict) {
    c.check(callers.length > 0, field, callers, strictNeedsCallersRule(strictAlternative));
    return;
  }
  const rule =
    tlsMode === undefined
      ? CALLERS_NEED_TLS_RULE
      : tlsMode === TlsMode.Permissive
        ? CALLERS_PERMISSIVE_RULE
        : tlsMode === TlsMode.Disabled
          ? CALLERS_DISABLED_RULE
          : undefined;
  if (rule) c.check(callers.length === 0, field, callers, rule);
}
