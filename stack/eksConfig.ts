/**
 * The eks stack's config rules (issue 27): what a real AWS account refuses or bills for, refused before anything
 * is created, each naming its key.
 */
import type { Problem } from "../core/validation";
import type { StackConfig } from "./configSchema";
import { accessRoles, listOf, ROLE_ARN } from "./eksAccess";
import { EKS_RELEASE_CALENDAR, eksRelease, eksSupportStatus, utcDay } from "./eksVersions";

/** EKS's cluster-name rule (CreateCluster): it is also the k8s_psat cluster name SPIRE's agents attest with. */
const EKS_CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

function isIpv4Cidr(text: string): boolean {
  const m = IPV4_CIDR.exec(text);
  return !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
}

export function eksProblems(config: StackConfig, today: string = utcDay()): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: unknown, rule: string) => problems.push({ field, value, rule });

  if (config.dataPlane === "appmesh") {
    add(
      "dataPlane",
      "appmesh",
      "cannot run on cluster=eks: AWS discontinued the App Mesh API on 2026-09-30, so meshes and virtual nodes " +
        "never become active and injected Envoys get no configuration. Use dataPlane=envoy (the same mTLS " +
        "through SPIRE's SDS, without App Mesh); render the appmesh plane off EKS to compare while migrating",
    );
  }

  const status = eksSupportStatus(config.eksVersion, today);
  const release = eksRelease(config.eksVersion);
  const standard = EKS_RELEASE_CALENDAR.filter((r) => eksSupportStatus(r.version, today) === "standard")
    .map((r) => r.version)
    .join(", ");
  if (status === "unknown" || status === "unreleased") {
    add(
      "eksVersion",
      config.eksVersion,
      `is not an EKS version available on ${today} in the stack's calendar (stack/eksVersions.ts); in standard support: ${standard}`,
    );
  } else if (status === "ended") {
    add(
      "eksVersion",
      config.eksVersion,
      `reached the end of EKS extended support on ${release?.endOfExtendedSupport}`,
    );
  } else if (status === "extended" && !config.eksAllowExtendedSupport) {
    add(
      "eksVersion",
      config.eksVersion,
      `left EKS standard support on ${release?.endOfStandardSupport}: a cluster on it is billed at the extended-support rate. Choose one in standard support (${standard}), or set eksAllowExtendedSupport=true to accept that`,
    );
  }
  if (!config.eksNodeReleaseVersion.startsWith(`${config.eksVersion}.`)) {
    add(
      "eksNodeReleaseVersion",
      config.eksNodeReleaseVersion,
      `must be an AMI release of Kubernetes ${config.eksVersion} (eksVersion), e.g. ${config.eksVersion}.<patch>-<date>`,
    );
  }
  if (!EKS_CLUSTER_NAME.test(config.clusterName)) {
    add(
      "clusterName",
      config.clusterName,
      "names the EKS cluster on cluster=eks: 1 to 100 letters, digits, - and _, starting with a letter or digit",
    );
  }
  if (
    !(Number.isInteger(config.eksNodesPerZone) && config.eksNodesPerZone >= 1 && config.eksNodesPerZone <= 20)
  ) {
    add("eksNodesPerZone", config.eksNodesPerZone, "must be between 1 and 20");
  }
  if (!(config.eksZoneCount === 2 || config.eksZoneCount === 3)) {
    add("eksZoneCount", config.eksZoneCount, "must be 2 or 3");
  }
  if (!(isIpv4Cidr(config.eksVpcCidr) && config.eksVpcCidr.endsWith(".0.0/16"))) {
    add("eksVpcCidr", config.eksVpcCidr, "must be an IPv4 /16 such as 10.0.0.0/16");
  }
  const cidrs = listOf(config.eksPublicAccessCidrs);
  if (cidrs.length === 0) {
    add(
      "eksPublicAccessCidrs",
      config.eksPublicAccessCidrs,
      "is required on cluster=eks: the CIDR ranges that may reach the API endpoint (your egress and CI runners); 0.0.0.0/0 opens it to the internet",
    );
  }
  for (const cidr of cidrs.filter((c) => !isIpv4Cidr(c))) {
    add("eksPublicAccessCidrs", cidr, "must be a comma-separated list of IPv4 CIDR ranges");
  }
  const seen = new Map<string, string>();
  for (const { arn, key } of accessRoles(config)) {
    if (!ROLE_ARN.test(arn))
      add(key, arn, "must be IAM role ARNs (arn:<partition>:iam::<account>:role/<name>)");
    const earlier = seen.get(arn);
    if (earlier) add(key, arn, `is also in ${earlier}: EKS allows one access entry per principal`);
    seen.set(arn, key);
  }
  return problems;
}

/** cluster=eks only keys set on another cluster: they would do nothing. */
export function eksOnlyProblems(config: StackConfig): Problem[] {
  const keys = [
    "eksPublicAccessCidrs",
    "eksDeployRoleArn",
    "eksAdminRoleArns",
    "eksPreviewRoleArns",
  ] as const;
  return keys
    .filter((key) => config[key])
    .map((key) => ({ field: key, value: config[key], rule: "only applies when cluster=eks" }));
}
