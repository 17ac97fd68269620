/**
 * IAM Roles for Service Accounts on EKS: a role only one Kubernetes ServiceAccount of this cluster can assume,
 * with the policies it needs attached. Used by the EBS CSI driver (always on EKS) and the App Mesh controller.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface Oidc {
  readonly arn: pulumi.Output<string>;
  readonly url: pulumi.Output<string>;
}

/** IAM trust policy: only `namespace/serviceAccount`, presenting a token from this cluster's issuer, for STS. */
export function irsaTrustPolicy(
  oidcProviderArn: string,
  oidcProviderUrl: string,
  namespace: string,
  serviceAccount: string,
): string {
  const issuer = oidcProviderUrl.replace(/^https:\/\//, "");
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Effect: "Allow",
        Principal: { Federated: oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:sub`]: `system:serviceaccount:${namespace}:${serviceAccount}`,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  });
}

/** A role for `namespace/serviceAccount` with AWS-managed `policyArns` attached; its ARN. */
export function irsaRole(
  name: string,
  oidc: Oidc,
  namespace: string,
  serviceAccount: string,
  policyArns: Readonly<Record<string, string>>,
): pulumi.Output<string> {
  const role = new aws.iam.Role(name, {
    assumeRolePolicy: pulumi
      .all([oidc.arn, oidc.url])
      .apply(([arn, url]) => irsaTrustPolicy(arn, url, namespace, serviceAccount)),
  });
  for (const [suffix, policyArn] of Object.entries(policyArns)) {
    new aws.iam.RolePolicyAttachment(`${name}-${suffix}`, { role: role.name, policyArn });
  }
  return role.arn;
}
