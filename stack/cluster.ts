/**
 * The cluster the stack deploys to and the one kubernetes provider every component receives. With cluster=eks
 * the cluster is created here (with an OIDC provider for IRSA); otherwise a kubeconfig or context from config
 * is used, or the ambient kubeconfig.
 */
import * as aws from "@pulumi/aws";
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { isInlineKubeconfig, type StackConfig } from "./configSchema";
import { irsaRole, type Oidc } from "./irsa";
import { gp3Class } from "./volumes";

export interface StackCluster {
  readonly provider: k8s.Provider;
  /** Environment for entry commands: how kubectl reaches the same cluster as the provider. */
  readonly commandEnvironment: Record<string, pulumi.Input<string>>;
  /** EKS only: the cluster's OIDC provider, for IRSA. */
  readonly oidc?: Oidc;
  readonly eksCluster?: eks.Cluster;
  /** EKS only: the StorageClass SPIRE's data volume uses, which must exist first. */
  readonly storageClass?: k8s.storage.v1.StorageClass;
}

/** The encrypted gp3 class of the EBS CSI driver; the eks stack's spireStorageClass names it. */
export const EKS_STORAGE_CLASS = "gp3-encrypted";

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
    const provider = new k8s.Provider("cluster", { kubeconfig });
    const oidc = { arn: cluster.oidcProviderArn, url: cluster.oidcProviderUrl };
    return {
      provider,
      commandEnvironment: { SPIRE_MESH_KUBECONFIG: kubeconfig },
      oidc,
      eksCluster: cluster,
      storageClass: ebsStorage(cluster, oidc, provider, config.spireKeepVolumes),
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

/**
 * EKS 1.23+ provisions EBS volumes only through the EBS CSI driver: the managed add-on, with an IRSA role for its
 * controller, and an encrypted gp3 class (the in-tree gp2 class provisions nothing any more).
 */
function ebsStorage(
  cluster: eks.Cluster,
  oidc: Oidc,
  provider: k8s.Provider,
  keepVolumes: boolean,
): k8s.storage.v1.StorageClass {
  const role = irsaRole("ebs-csi-driver", oidc, "kube-system", "ebs-csi-controller-sa", {
    ebs: "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
  });
  const addon = new aws.eks.Addon("ebs-csi-driver", {
    clusterName: cluster.eksCluster.name,
    addonName: "aws-ebs-csi-driver",
    serviceAccountRoleArn: role,
  });
  return new k8s.storage.v1.StorageClass(
    EKS_STORAGE_CLASS,
    {
      metadata: { name: EKS_STORAGE_CLASS },
      provisioner: "ebs.csi.aws.com",
      // Tagged with the stack; deleted with its claim unless spireKeepVolumes (stack/volumes.ts).
      ...gp3Class(keepVolumes),
      // Bound where the pod lands: an EBS volume lives in one availability zone.
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
    },
    { provider, dependsOn: [addon] },
  );
}
