/**
 * The tags every AWS resource of the eks stack carries, so that a bill, a leftover volume or a snapshot names its
 * stack. `aws:defaultTags` (Pulumi.eks.yaml) covers what the AWS provider creates; these also reach what it does
 * not: the nodes' instances and volumes (launch template), the EBS CSI driver's volumes, the EKS component's
 * own resources.
 */
import * as pulumi from "@pulumi/pulumi";

export const STACK_TAG = "spire-mesh:stack";

export function stackTags(): Record<string, string> {
  return {
    [STACK_TAG]: `${pulumi.getProject()}/${pulumi.getStack()}`,
    "spire-mesh:managed-by": "pulumi",
  };
}
