/**
 * The EKS cluster of the eks stack, as a production account takes it: its own VPC (nodes in private subnets, no
 * public node addresses, the API endpoint open only to configured ranges), standard support only unless extended
 * support is chosen, access entries for the roles that operate it, NetworkPolicy enforcement in the VPC CNI, one
 * managed node group per zone on a pinned AMI release with IMDSv2 and a hop limit of 1, tags everywhere, and the
 * EBS CSI driver at the cluster version's default add-on version.
 */
import * as aws from "@pulumi/aws";
import * as eks from "@pulumi/eks";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type StackNetwork, stackNetwork } from "./awsNetwork";
import { stackTags } from "./awsTags";
import type { StackConfig } from "./configSchema";
import { accessEntries, listOf } from "./eksAccess";
import { irsaRole, type Oidc } from "./irsa";
import { gp3Class } from "./volumes";

/** The encrypted gp3 class of the EBS CSI driver; the eks stack's spireStorageClass names it. */
export const EKS_STORAGE_CLASS = "gp3-encrypted";

/** Amazon Linux 2023, whose kubelet serving certificates the cluster CA signs (skipKubeletVerification false). */
export const NODE_AMI_TYPE = "AL2023_x86_64_STANDARD";

/**
 * IMDSv2 only, and a response hop limit of 1: a pod on the pod network (one hop further than the node) gets no
 * answer, so it cannot take the node role's credentials around its own IRSA role. Host-network pods (the VPC
 * CNI, the SPIRE agents) are on the node's hop and keep IMDS.
 */
export const NODE_METADATA_OPTIONS = {
  httpEndpoint: "enabled",
  httpTokens: "required",
  httpPutResponseHopLimit: 1,
} as const;

export interface EksStackCluster {
  readonly cluster: eks.Cluster;
  readonly provider: k8s.Provider;
  readonly oidc: Oidc;
  readonly storageClass: k8s.storage.v1.StorageClass;
  readonly network: StackNetwork;
}

export function eksStackCluster(config: StackConfig): EksStackCluster {
  const tags = stackTags();
  const { partition, dnsSuffix } = aws.getPartitionOutput();
  const network = stackNetwork(config, tags);
  const cluster = new eks.Cluster("cluster", {
    name: config.clusterName,
    version: config.eksVersion,
    // AWS's default is EXTENDED: a version past standard support would keep running at six times the price.
    upgradePolicy: { supportType: config.eksAllowExtendedSupport ? "EXTENDED" : "STANDARD" },
    vpcId: network.vpcId,
    publicSubnetIds: network.publicSubnetIds,
    privateSubnetIds: network.privateSubnetIds,
    nodeAssociatePublicIpAddress: false,
    endpointPrivateAccess: true,
    endpointPublicAccess: true,
    publicAccessCidrs: listOf(config.eksPublicAccessCidrs),
    authenticationMode: eks.AuthenticationMode.Api,
    accessEntries: accessEntries(config, partition, tags),
    // NetworkPolicies are enforced only by the VPC CNI's network policy agent, which is off by default.
    vpcCniOptions: { enableNetworkPolicy: true },
    skipDefaultNodeGroup: true,
    createOidcProvider: true,
    tags,
    clusterTags: tags,
  });
  const nodes = nodeGroups(config, cluster, network, { partition, dnsSuffix }, tags);
  const kubeconfig = pulumi.secret(cluster.kubeconfigJson);
  const provider = new k8s.Provider("cluster", { kubeconfig });
  const oidc = { arn: cluster.oidcProviderArn, url: cluster.oidcProviderUrl };
  return {
    cluster,
    provider,
    oidc,
    network,
    storageClass: ebsStorage(config, cluster, { oidc, provider, partition, nodes }, tags),
  };
}

/**
 * One managed node group per zone, each with eksNodesPerZone nodes: every zone always has a node, so the
 * server's EBS volume (bound to one zone) is always schedulable. No autoscaler runs, so sizes are fixed.
 */
function nodeGroups(
  config: StackConfig,
  cluster: eks.Cluster,
  network: StackNetwork,
  awsPartition: { partition: pulumi.Output<string>; dnsSuffix: pulumi.Output<string> },
  tags: Record<string, string>,
): aws.eks.NodeGroup[] {
  const role = new aws.iam.Role("eks-nodes", {
    assumeRolePolicy: awsPartition.dnsSuffix.apply((suffix) =>
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: `ec2.${suffix}` }, Action: "sts:AssumeRole" }],
      }),
    ),
    tags,
  });
  const attachments = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ].map(
    (policy) =>
      new aws.iam.RolePolicyAttachment(`eks-nodes-${policy}`, {
        role: role.name,
        policyArn: pulumi.interpolate`arn:${awsPartition.partition}:iam::aws:policy/${policy}`,
      }),
  );
  const instanceTags = (resourceType: string) => ({ resourceType, tags });
  const template = new aws.ec2.LaunchTemplate("eks-nodes", {
    metadataOptions: NODE_METADATA_OPTIONS,
    // The node group's own and the cluster's security groups: the first is the one RDS admits, the second lets
    // the control plane reach the kubelets (EKS adds it only when a template names no groups).
    vpcSecurityGroupIds: [cluster.nodeSecurityGroupId, cluster.eksCluster.vpcConfig.clusterSecurityGroupId],
    blockDeviceMappings: [
      { deviceName: "/dev/xvda", ebs: { volumeSize: 20, volumeType: "gp3", encrypted: "true" } },
    ],
    tagSpecifications: ["instance", "volume", "network-interface"].map(instanceTags),
    tags,
  });
  return network.privateSubnetIds.map(
    (subnetId, zone) =>
      new aws.eks.NodeGroup(
        `eks-nodes-${zone}`,
        {
          clusterName: cluster.eksCluster.name,
          nodeRoleArn: role.arn,
          subnetIds: [subnetId],
          instanceTypes: [config.eksInstanceType],
          amiType: NODE_AMI_TYPE,
          version: config.eksVersion,
          // Pinned: a new AMI replaces every node, so it comes only with a deliberate bump of this key.
          releaseVersion: config.eksNodeReleaseVersion,
          scalingConfig: {
            minSize: config.eksNodesPerZone,
            desiredSize: config.eksNodesPerZone,
            maxSize: config.eksNodesPerZone,
          },
          updateConfig: { maxUnavailable: 1 },
          launchTemplate: { id: template.id, version: template.latestVersion.apply(String) },
          tags,
        },
        { dependsOn: attachments },
      ),
  );
}

/**
 * EKS 1.23+ provisions EBS volumes only through the EBS CSI driver: the managed add-on at the default version for
 * the cluster's Kubernetes version (so it moves with eksVersion), an IRSA role for its controller, and an
 * encrypted gp3 class (the in-tree gp2 class provisions nothing any more). Every volume it creates is tagged.
 */
function ebsStorage(
  config: StackConfig,
  cluster: eks.Cluster,
  {
    oidc,
    provider,
    partition,
    nodes,
  }: { oidc: Oidc; provider: k8s.Provider; partition: pulumi.Output<string>; nodes: aws.eks.NodeGroup[] },
  tags: Record<string, string>,
): k8s.storage.v1.StorageClass {
  const role = irsaRole("ebs-csi-driver", oidc, "kube-system", "ebs-csi-controller-sa", {
    ebs: pulumi.interpolate`arn:${partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy`,
  });
  const addonVersion = aws.eks.getAddonVersionOutput({
    addonName: "aws-ebs-csi-driver",
    kubernetesVersion: config.eksVersion,
  }).version;
  const addon = new aws.eks.Addon(
    "ebs-csi-driver",
    {
      clusterName: cluster.eksCluster.name,
      addonName: "aws-ebs-csi-driver",
      addonVersion,
      serviceAccountRoleArn: role,
      configurationValues: JSON.stringify({ controller: { extraVolumeTags: tags } }),
      tags,
    },
    // The add-on is ACTIVE only once its controller runs: on the nodes.
    { dependsOn: nodes },
  );
  return new k8s.storage.v1.StorageClass(
    EKS_STORAGE_CLASS,
    {
      metadata: { name: EKS_STORAGE_CLASS },
      provisioner: "ebs.csi.aws.com",
      // Tagged with the stack; deleted with its claim unless spireKeepVolumes (stack/volumes.ts).
      ...gp3Class(config.spireKeepVolumes),
      // Bound where the pod lands: an EBS volume lives in one availability zone.
      volumeBindingMode: "WaitForFirstConsumer",
      allowVolumeExpansion: true,
    },
    { provider, dependsOn: [addon] },
  );
}
