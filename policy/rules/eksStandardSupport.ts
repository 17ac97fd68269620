/**
 * Rule 9: an EKS cluster runs a Kubernetes version in EKS standard support on the day of the preview, with the
 * upgrade policy STANDARD: AWS's default (EXTENDED) bills a cluster past standard support at the extended-support
 * rate without anyone deciding it. allowExtendedSupport accepts both. The calendar is the stack's
 * (stack/eksVersions.ts).
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { eksRelease, eksSupportStatus, utcDay } from "../../stack/eksVersions";
import { type Finding, isUnknown, type Json, obj, plain, reportAll, show, str } from "../support";

export const EKS_STANDARD_SUPPORT = "eks-standard-support";

export interface EksStandardSupportConfig {
  readonly allowExtendedSupport?: boolean;
}

export const EKS_STANDARD_SUPPORT_DEFAULTS = { allowExtendedSupport: false };

/** pulumi-eks's component and the AWS provider's cluster: both take `version` and `upgradePolicy`. */
export const EKS_CLUSTER_TYPES = ["eks:index:Cluster", "aws:eks/cluster:Cluster"];

const description =
  "EKS clusters run a Kubernetes version in EKS standard support, with upgradePolicy.supportType STANDARD: " +
  "otherwise AWS bills the extended-support rate once standard support ends.";

export function eksSupportFindings(
  props: Json,
  name: string,
  allowExtendedSupport: boolean,
  today: string = utcDay(),
): Finding[] {
  if (allowExtendedSupport) return [];
  const findings: Finding[] = [];
  const upgradePolicy = props?.upgradePolicy;
  const supportType = obj(upgradePolicy)?.supportType;
  if (!isUnknown(upgradePolicy) && !isUnknown(supportType) && supportType !== "STANDARD") {
    findings.push({
      message: `EKS cluster ${name}: upgradePolicy.supportType = ${show(supportType)}: set "STANDARD" (AWS's default is EXTENDED)`,
    });
  }
  const version = str(props?.version);
  if (version === undefined) return findings; // unknown, or AWS's latest: in standard support by definition
  const status = eksSupportStatus(version, today);
  const release = eksRelease(version);
  if (status === "extended" || status === "ended") {
    findings.push({
      message: `EKS cluster ${name}: version ${version} left standard support on ${release?.endOfStandardSupport}`,
    });
  } else if (status === "unknown") {
    findings.push({
      message: `EKS cluster ${name}: version ${version} is not in the EKS calendar (stack/eksVersions.ts): its support cannot be checked`,
    });
  }
  return findings;
}

export const eksStandardSupportPolicy: ResourceValidationPolicy = {
  name: EKS_STANDARD_SUPPORT,
  description,
  enforcementLevel: "advisory",
  configSchema: {
    properties: {
      allowExtendedSupport: {
        type: "boolean",
        default: EKS_STANDARD_SUPPORT_DEFAULTS.allowExtendedSupport,
        description: "Accept versions in extended support and the EXTENDED upgrade policy (and their price).",
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    if (!EKS_CLUSTER_TYPES.includes(args.type)) return;
    const config = { ...EKS_STANDARD_SUPPORT_DEFAULTS, ...args.getConfig<EksStandardSupportConfig>() };
    reportAll(
      report,
      description,
      eksSupportFindings(plain(args.props), args.name, config.allowExtendedSupport),
    );
  },
};
