/**
 * Rule 8: EC2 instances and launch templates require IMDSv2 with a response hop limit of 1 (maxHopLimit), so a
 * pod on the pod network cannot read the node role's credentials and act around its own least-privilege role.
 * Missing metadata options count: the AMI's default then decides, and EKS AMIs allow two hops.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { type Finding, isUnknown, type Json, obj, plain, reportAll, show } from "../support";

export const IMDS_HOP_LIMIT = "imds-hop-limit";

export interface ImdsHopLimitConfig {
  /** The highest response hop limit accepted; 2 admits every pod on the pod network. */
  readonly maxHopLimit?: number;
}

export const IMDS_HOP_LIMIT_DEFAULTS = { maxHopLimit: 1 };

/** The resources whose `metadataOptions` decide the nodes' IMDS. */
export const IMDS_TYPES = ["aws:ec2/launchTemplate:LaunchTemplate", "aws:ec2/instance:Instance"];

const description =
  "EC2 instances and launch templates require IMDSv2 (httpTokens required) with a response hop limit of 1, so " +
  "pods cannot reach the node role's credentials through the instance metadata service.";

export function imdsFindings(type: string, props: Json, name: string, maxHopLimit: number): Finding[] {
  const what = `${type.split(":").pop()} ${name}`;
  const options = obj(props?.metadataOptions);
  if (!options) {
    if (isUnknown(props?.metadataOptions)) return [];
    return [{ message: `${what}: metadataOptions missing: the AMI's default applies (IMDSv1 or two hops)` }];
  }
  const findings: Finding[] = [];
  const tokens = options.httpTokens;
  if (!isUnknown(tokens) && tokens !== "required") {
    findings.push({
      message: `${what}: metadataOptions.httpTokens = ${show(tokens)}: must be "required" (IMDSv2)`,
    });
  }
  const hops = options.httpPutResponseHopLimit;
  if (!isUnknown(hops) && !(typeof hops === "number" && hops >= 1 && hops <= maxHopLimit)) {
    findings.push({
      message: `${what}: metadataOptions.httpPutResponseHopLimit = ${show(hops)}: must be at most ${maxHopLimit}, or pods reach IMDS`,
    });
  }
  return findings;
}

export const imdsHopLimitPolicy: ResourceValidationPolicy = {
  name: IMDS_HOP_LIMIT,
  description,
  enforcementLevel: "advisory",
  configSchema: {
    properties: {
      maxHopLimit: {
        type: "integer",
        minimum: 1,
        maximum: 64,
        default: IMDS_HOP_LIMIT_DEFAULTS.maxHopLimit,
        description: "The highest httpPutResponseHopLimit accepted (2 lets every pod reach IMDS).",
      },
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    if (!IMDS_TYPES.includes(args.type)) return;
    const config = { ...IMDS_HOP_LIMIT_DEFAULTS, ...args.getConfig<ImdsHopLimitConfig>() };
    reportAll(report, description, imdsFindings(args.type, plain(args.props), args.name, config.maxHopLimit));
  },
};
