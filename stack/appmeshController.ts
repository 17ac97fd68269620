/**
 * The App Mesh controller for dataPlane=appmesh: its Helm release (CRDs included) with SDS turned on and pointed
 * at the SPIRE agent socket. A render target only since AWS discontinued App Mesh (2026-09-30): cluster=eks
 * refuses dataPlane=appmesh (stack/eksConfig.ts), so the controller never gets AWS credentials from this stack.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./configSchema";

export const CONTROLLER_NAMESPACE = "appmesh-system";
export const CONTROLLER_SERVICE_ACCOUNT = "appmesh-controller";

export interface ControllerArgs {
  readonly config: StackConfig;
  readonly provider: k8s.Provider;
  readonly agentSocketPath: pulumi.Input<string>;
}

export function appMeshController({
  config,
  provider,
  agentSocketPath,
}: ControllerArgs): k8s.helm.v3.Release {
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
        serviceAccount: { create: true, name: CONTROLLER_SERVICE_ACCOUNT },
      },
    },
    { provider },
  );
}
