/**
 * Amazon EKS's Kubernetes release calendar: the one table the eks stack's default version, its config check and
 * the policy rule read. Bump it when AWS publishes a new row; every date is a UTC day.
 *
 * Source: "Amazon EKS Kubernetes release calendar", docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
 * (awsdocs/amazon-eks-user-guide, latest/ug/versioning/kubernetes-versions.adoc at 0138560 for 1.29 to 1.34).
 * The 1.35 row is from endoflife.date/amazon-eks (which cites AWS's announcement), not yet from AWS's own table:
 * UNCONFIRMED until checked with `aws eks describe-cluster-versions --cluster-versions 1.35`.
 */

export interface EksRelease {
  /** Kubernetes minor version as EKS names it. */
  readonly version: string;
  /** Available on EKS from this day. */
  readonly eksRelease: string;
  /** Standard support ends at the start of this day (extended-support billing starts then). */
  readonly endOfStandardSupport: string;
  /** After this day the control plane is upgraded by AWS. */
  readonly endOfExtendedSupport: string;
  /** Whether the dates were read from AWS's own calendar. */
  readonly confirmed: boolean;
}

export const EKS_RELEASE_CALENDAR: readonly EksRelease[] = [
  {
    version: "1.35",
    eksRelease: "2026-01-27",
    endOfStandardSupport: "2027-03-27",
    endOfExtendedSupport: "2028-03-27",
    confirmed: false,
  },
  {
    version: "1.34",
    eksRelease: "2025-10-02",
    endOfStandardSupport: "2026-12-02",
    endOfExtendedSupport: "2027-12-02",
    confirmed: true,
  },
  {
    version: "1.33",
    eksRelease: "2025-05-29",
    endOfStandardSupport: "2026-07-29",
    endOfExtendedSupport: "2027-07-29",
    confirmed: true,
  },
  {
    version: "1.32",
    eksRelease: "2025-01-23",
    endOfStandardSupport: "2026-03-23",
    endOfExtendedSupport: "2027-03-23",
    confirmed: true,
  },
  {
    version: "1.31",
    eksRelease: "2024-09-26",
    endOfStandardSupport: "2025-11-26",
    endOfExtendedSupport: "2026-11-26",
    confirmed: true,
  },
];

/** Where a version stands on `day` (YYYY-MM-DD, UTC): unknown versions are not in the table. */
export type SupportStatus = "standard" | "extended" | "ended" | "unreleased" | "unknown";

export function eksSupportStatus(version: string, day: string): SupportStatus {
  const release = EKS_RELEASE_CALENDAR.find((r) => r.version === version);
  if (!release) return "unknown";
  if (day < release.eksRelease) return "unreleased";
  if (day < release.endOfStandardSupport) return "standard";
  if (day < release.endOfExtendedSupport) return "extended";
  return "ended";
}

export const eksRelease = (version: string): EksRelease | undefined =>
  EKS_RELEASE_CALENDAR.find((r) => r.version === version);

/** Today as the calendar compares it: the UTC day. */
export const utcDay = (now: Date = new Date()): string => now.toISOString().slice(0, 10);
