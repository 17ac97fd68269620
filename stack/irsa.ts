/**
 * IAM Roles for Service Accounts on EKS: a role only one Kubernetes ServiceAccount of this cluster can assume,
 * with the policies it needs attached. Used by the EBS CSI driver (always on EKS), the App Mesh controller and,
 * with an ACM Private CA upstream, the SPIRE servers.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { awsPcaSigningTemplateArn } from "../spire/production";
import { stackTags } from "./awsTags";

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

/**
 * A role for `namespace/serviceAccount` with AWS-managed `policyArns` attached and `inlinePolicies` (name ->
 * policy document JSON) of its own; its ARN, resolved only once every policy is attached (as pulumi-eks's
 * ServiceRole does): whatever is annotated with it never starts with a role that cannot do its job yet.
 */
export function irsaRole(
  name: string,
  oidc: Oidc,
  namespace: string,
  serviceAccount: string,
  policyArns: Readonly<Record<string, pulumi.Input<string>>>,
  inlinePolicies: Readonly<Record<string, pulumi.Input<string>>> = {},
): pulumi.Output<string> {
  const role = new aws.iam.Role(name, {
    assumeRolePolicy: pulumi
      .all([oidc.arn, oidc.url])
      .apply(([arn, url]) => irsaTrustPolicy(arn, url, namespace, serviceAccount)),
    tags: stackTags(),
  });
  const grants: pulumi.Output<string>[] = [];
  for (const [suffix, policyArn] of Object.entries(policyArns)) {
    grants.push(new aws.iam.RolePolicyAttachment(`${name}-${suffix}`, { role: role.name, policyArn }).id);
  }
  for (const [suffix, policy] of Object.entries(inlinePolicies)) {
    grants.push(new aws.iam.RolePolicy(`${name}-${suffix}`, { role: role.id, policy }).id);
  }
  return pulumi.all([role.arn, ...grants]).apply(([arn]) => arn);
}

/**
 * Exactly what SPIRE's aws_pca upstream authority calls (1.13.3, pkg/server/plugin/upstreamauthority/awspca):
 * DescribeCertificateAuthority at start, then per CA mint IssueCertificate and GetCertificate (polled until the
 * certificate is issued). On the one CA only.
 */
export const ACM_PCA_ACTIONS = [
  "acm-pca:DescribeCertificateAuthority",
  "acm-pca:IssueCertificate",
  "acm-pca:GetCertificate",
] as const;

/**
 * The server's ACM PCA permissions. IssueCertificate only with the subordinate-CA template SPIRE requests
 * (server.conf names the same one): without the condition a compromised server pod could have the CA sign an
 * end-entity certificate for any name, which every client trusting that CA would accept.
 */
export const acmPcaPolicy = (certificateAuthorityArn: string): string =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadTheCa",
        Effect: "Allow",
        Action: ACM_PCA_ACTIONS.filter((a) => a !== "acm-pca:IssueCertificate"),
        Resource: certificateAuthorityArn,
      },
      {
        Sid: "IssueSpireIntermediatesOnly",
        Effect: "Allow",
        Action: "acm-pca:IssueCertificate",
        Resource: certificateAuthorityArn,
        Condition: {
          StringEquals: { "acm-pca:TemplateArn": awsPcaSigningTemplateArn(certificateAuthorityArn) },
        },
      },
    ],
  });
