/**
 * Who can reach the eks stack's cluster: EKS access entries (authenticationMode API). The principal that creates
 * the cluster gets cluster-admin from EKS itself (pulumi-eks sets bootstrapClusterCreatorAdminPermissions); these
 * entries add the other roles from config, so a PR preview or a second operator is not Unauthorized.
 */
import type * as eks from "@pulumi/eks";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./configSchema";

/** EKS's managed access policies (partition-qualified at use). */
const ADMIN_POLICY = "AmazonEKSClusterAdminPolicy";
const VIEW_POLICY = "AmazonEKSViewPolicy";

/** An IAM role ARN in any partition: the shape EKS accepts as an access entry's principal. */
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/** A comma-separated list config value, trimmed, empty items dropped. */
export const listOf = (value: string): string[] =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);

/** The roles per access level, from config: admin (deploy and admins) or view (preview). */
export function accessRoles(config: StackConfig): { arn: string; level: "admin" | "view"; key: string }[] {
  return [
    ...listOf(config.eksDeployRoleArn).map((arn) => ({
      arn,
      level: "admin" as const,
      key: "eksDeployRoleArn",
    })),
    ...listOf(config.eksAdminRoleArns).map((arn) => ({
      arn,
      level: "admin" as const,
      key: "eksAdminRoleArns",
    })),
    ...listOf(config.eksPreviewRoleArns).map((arn) => ({
      arn,
      level: "view" as const,
      key: "eksPreviewRoleArns",
    })),
  ];
}

export function accessEntries(
  config: StackConfig,
  partition: pulumi.Input<string>,
  tags: Record<string, string>,
): Record<string, eks.types.input.AccessEntryArgs> {
  const entries: Record<string, eks.types.input.AccessEntryArgs> = {};
  accessRoles(config).forEach(({ arn, level }, index) => {
    const policy = level === "admin" ? ADMIN_POLICY : VIEW_POLICY;
    entries[`${level}-${index}`] = {
      principalArn: arn,
      type: "STANDARD",
      tags,
      accessPolicies: {
        [level]: {
          policyArn: pulumi.interpolate`arn:${partition}:eks::aws:cluster-access-policy/${policy}`,
          accessScope: { type: "cluster" },
        },
      },
    };
  });
  return entries;
}
