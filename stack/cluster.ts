/**
 * The cluster the stack deploys to and the one kubernetes provider every component receives. With cluster=eks
 * the cluster is created here (with an OIDC provider for IRSA); otherwise a kubeconfig or context from config
 * is used, or the ambient kubeconfig.
 */
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./configSchema";

export interface StackCluster {
  readonly provider: k8s.Provider;
  /** Environment for entry commands: how kubectl reaches the same cluster as the provider. */
  readonly commandEnvironment: Record<string, pulumi.Input<string>>;
  /** EKS only: the cluster's OIDC provider, for IRSA. */
  readonly oidc?: { readonly arn: pulumi.Output<string>; readonly url: pulumi.Output<string> };
  readonly eksCluster?: eks.Cluster;
}

/** A kubeconfig given inline (YAML or JSON) rather than as a path. */
const isInlineKubeconfig = (value: string) => value.includes("\n") || value.trimStart().startsWith("{");

export function stackCluster(config: StackConfig): StackCluster {
  if (config.cluster === "eks") {
    const cluster = new eks.Cluster("cluster", {
      version: config.eksVersion,
      instanceType: config.eksInstanceType,
      minSize: config.eksMinNodes,
      desiredCapacity: config.eksDesiredNodes,
      maxSize: config.eksMaxNodes,
      createOidcProvider: true,
    });
    const kubeconfig = pulumi.secret(cluster.kubeconfigJson);
    return {
      provider: new k8s.Provider("cluster", { kubeconfig }),
      commandEnvironment: { SPIRE_MESH_KUBECONFIG: kubeconfig },
      oidc: { arn: cluster.oidcProviderArn, url: cluster.oidcProviderUrl },
      eksCluster: cluster,
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
