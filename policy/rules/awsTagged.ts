/**
 * Rule 10: the AWS resources that cost money or hold data carry tags (with requiredKeys, those keys), so that a
 * bill, a leftover volume or a snapshot names its owner. Only the resource's own `tags` are seen: tags that
 * `aws:defaultTags` adds on the provider are not in a resource's inputs.
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { type Finding, isUnknown, type Json, obj, plain, reportAll, stringListSchema } from "../support";

export const AWS_TAGGED = "aws-resources-tagged";

export interface AwsTaggedConfig {
  readonly requiredKeys?: string[];
  readonly types?: string[];
}

export const AWS_TAGGED_DEFAULTS = {
  requiredKeys: [] as string[],
  types: [
    "eks:index:Cluster",
    "aws:eks/cluster:Cluster",
    "aws:eks/nodeGroup:NodeGroup",
    "aws:eks/addon:Addon",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/natGateway:NatGateway",
    "aws:ec2/eip:Eip",
    "aws:ec2/instance:Instance",
    "aws:ec2/launchTemplate:LaunchTemplate",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ebs/volume:Volume",
    "aws:rds/instance:Instance",
    "aws:rds/snapshot:Snapshot",
    "aws:iam/role:Role",
  ],
};

const description =
  "AWS resources that cost money or hold data carry tags (with requiredKeys, each of those keys), so that " +
  "every bill line, leftover volume and snapshot names its stack.";

export function tagFindings(
  type: string,
  props: Json,
  name: string,
  requiredKeys: readonly string[],
): Finding[] {
  if (isUnknown(props?.tags)) return [];
  const tags = obj(props?.tags) ?? {};
  const what = `${type.split(":").pop()} ${name}`;
  if (requiredKeys.length === 0) {
    return Object.keys(tags).length === 0 ? [{ message: `${what}: no tags` }] : [];
  }
  const missing = requiredKeys.filter((key) => !(key in tags));
  return missing.length > 0 ? [{ message: `${what}: missing tags ${missing.join(", ")}` }] : [];
}

export const awsTaggedPolicy: ResourceValidationPolicy = {
  name: AWS_TAGGED,
  description,
  enforcementLevel: "advisory",
  configSchema: {
    properties: {
      requiredKeys: stringListSchema("Tag keys every listed resource must carry; empty: any tag.", []),
      types: stringListSchema("The resource types checked (type tokens).", AWS_TAGGED_DEFAULTS.types),
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    const config = { ...AWS_TAGGED_DEFAULTS, ...args.getConfig<AwsTaggedConfig>() };
    if (!config.types.includes(args.type)) return;
    reportAll(report, description, tagFindings(args.type, plain(args.props), args.name, config.requiredKeys));
  },
};
