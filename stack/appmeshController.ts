/**
 * The App Mesh controller for dataPlane=appmesh: its Helm release (CRDs included) with SDS turned on and pointed
 * at the SPIRE agent socket. On EKS it gets its AWS permissions through IRSA (irsa.ts).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./configSchema";
import { irsaRole, type Oidc } from "./irsa";

export const CONTROLLER_NAMESPACE = "appmesh-system";
export const CONTROLLER_SERVICE_ACCOUNT = "appmesh-controller";

export interface ControllerArgs {
  readonly config: StackConfig;
  readonly provider: k8s.Provider;
  readonly agentSocketPath: pulumi.Input<string>;
  readonly oidc?: Oidc;
}

export function appMeshController({
  config,
  provider,
  agentSocketPath,
  oidc,
}: ControllerArgs): k8s.helm.v3.Release {
  // The controller creates App Mesh resources and registers instances in Cloud Map: AWS's managed policies for both.
  const roleArn = oidc
    ? irsaRole("appmesh-controller", oidc, CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, {
        appmesh: "arn:aws:iam::aws:policy/AWSAppMeshFullAccess",
        cloudmap: "arn:aws:iam::aws:policy/AWSCloudMapFullAccess",
      })
    : undefined;
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
