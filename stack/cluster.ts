/**
 * The cluster the stack deploys to and the one kubernetes provider every component receives. With cluster=eks
 * the cluster is created here (stack/eks.ts); otherwise a kubeconfig or context from config is used, or the
 * ambient kubeconfig.
 */
import type * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackNetwork } from "./awsNetwork";
import { isInlineKubeconfig, type StackConfig } from "./configSchema";
import { eksStackCluster } from "./eks";
import type { Oidc } from "./irsa";

export { EKS_STORAGE_CLASS } from "./eks";

export interface StackCluster {
  readonly provider: k8s.Provider;
  /** Environment for entry commands: how kubectl reaches the same cluster as the provider. */
  readonly commandEnvironment: Record<string, pulumi.Input<string>>;
  /** EKS only: the cluster's OIDC provider, for IRSA. */
  readonly oidc?: Oidc;
  readonly eksCluster?: eks.Cluster;
  /** EKS only: the StorageClass SPIRE's data volume uses, which must exist first. */
  readonly storageClass?: k8s.storage.v1.StorageClass;
  /** EKS only: the stack's VPC. */
  readonly network?: StackNetwork;
}

export function stackCluster(config: StackConfig): StackCluster {
  if (config.cluster === "eks") {
    const { cluster, provider, oidc, storageClass, network } = eksStackCluster(config);
    const kubeconfig = pulumi.secret(cluster.kubeconfigJson);
    return {
      provider,
      commandEnvironment: { SPIRE_MESH_KUBECONFIG: kubeconfig },
      oidc,
      eksCluster: cluster,
      storageClass,
      network,
    };
  }
  const kubeconfig = config.kubeconfig;
  const environment: Record<string, pulumi.Input<string>> = {};
  if (kubeconfig) {
    if (isInlineKubeconfig(kubeconfig)) environment.SPIRE_MESH_KUBECONFIG = pulumi.secret(kubeconfig);
    else environment.KUBECONFIG = kubeconfig;
  }
  if (config.kubeContext) environment.SPIRE_MESH_KUBE_CONTEXT = config.kubeContext;
  return {
    provider: new k8s.Provider("cluster", {
      ...(kubeconfig
        ? { kubeconfig: isInlineKubeconfig(kubeconfig) ? pulumi.secret(kubeconfig) : kubeconfig }
        : {}),
      ...(config.kubeContext ? { context: config.kubeContext } : {}),
    }),
    commandEnvironment: environment,
  };
}
