/**
 * The App Mesh controller for dataPlane=appmesh: its Helm release (CRDs included) with SDS turned on and pointed
 * at the SPIRE agent socket. On EKS it gets its AWS permissions through IRSA: a role only its ServiceAccount can
 * assume.
 */
import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./configSchema";

export const CONTROLLER_NAMESPACE = "appmesh-system";
export const CONTROLLER_SERVICE_ACCOUNT = "appmesh-controller";

/** IAM trust policy: only appmesh-system/appmesh-controller, presenting a token from this cluster's issuer. */
export function irsaTrustPolicy(oidcProviderArn: string, oidcProviderUrl: string): string {
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
            [`${issuer}:sub`]: `system:serviceaccount:${CONTROLLER_NAMESPACE}:${CONTROLLER_SERVICE_ACCOUNT}`,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  });
}

export interface ControllerArgs {
  readonly config: StackConfig;
  readonly provider: k8s.Provider;
  readonly agentSocketPath: pulumi.Input<string>;
  readonly oidc?: { readonly arn: pulumi.Output<string>; readonly url: pulumi.Output<string> };
}

export function appMeshController({
  config,
  provider,
  agentSocketPath,
  oidc,
}: ControllerArgs): k8s.helm.v3.Release {
  let roleArn: pulumi.Output<string> | undefined;
  if (oidc) {
    const role = new aws.iam.Role("appmesh-controller", {
      assumeRolePolicy: pulumi.all([oidc.arn, oidc.url]).apply(([arn, url]) => irsaTrustPolicy(arn, url)),
    });
    // The controller creates App Mesh resources and registers instances in Cloud Map: AWS's managed policies for both.
    for (const [name, policy] of [
      ["appmesh", "arn:aws:iam::aws:policy/AWSAppMeshFullAccess"],
      ["cloudmap", "arn:aws:iam::aws:policy/AWSCloudMapFullAccess"],
    ]) {
      new aws.iam.RolePolicyAttachment(`appmesh-controller-${name}`, { role: role.name, policyArn: policy });
    }
    roleArn = role.arn;
  }
  const region = new pulumi.Config("aws").get("region");
  return new k8s.helm.v3.Release(
    "appmesh-controller",
    {
      name: "appmesh-controller",
      // `eks/appmesh-controller` as the walkthrough installs it: add the eks-charts repository as `eks` first.
      chart: config.appmeshControllerChart,
      version: config.appmeshControllerVersion,
      namespace: CONTROLLER_NAMESPACE,
      createNamespace: true,
      values: {
        ...(region ? { region } : {}),
        sds: { enabled: true, udsPath: agentSocketPath },
        serviceAccount: {
          create: true,
          name: CONTROLLER_SERVICE_ACCOUNT,
          ...(roleArn ? { annotations: { "eks.amazonaws.com/role-arn": roleArn } } : {}),
        },
      },
    },
    { provider },
  );
}
