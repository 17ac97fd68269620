/**
 * The eks stack's own VPC: without one, pulumi-eks takes the default VPC and all its subnets (missing in many
 * accounts, public everywhere, and including zones EKS does not serve). Public subnets hold only the NAT
 * gateways and internet-facing load balancers; nodes and RDS live in the private subnets.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./configSchema";

export interface StackNetwork {
  readonly vpcId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  /** The zone of each private subnet, in the same order. */
  readonly zones: pulumi.Output<string>[];
}

/**
 * Availability Zone IDs where EKS cannot place a control plane (AWS "Amazon EKS networking requirements"):
 * the same zone ID names different zone letters in different accounts, so they are excluded by ID.
 */
export const EKS_UNSUPPORTED_ZONE_IDS = ["use1-az3", "usw1-az2", "cac1-az3"] as const;

/** `a.b.0.0/16` -> the /20 public and /19 private blocks of zone `index`. */
export function subnetCidrs(vpcCidr: string, index: number): { public: string; private: string } {
  const [a, b] = vpcCidr.split(".");
  return { public: `${a}.${b}.${index * 16}.0/20`, private: `${a}.${b}.${64 + index * 32}.0/19` };
}

export function stackNetwork(config: StackConfig, tags: Record<string, string>): StackNetwork {
  const clusterTag = { [`kubernetes.io/cluster/${config.clusterName}`]: "shared" };
  const zones = aws.getAvailabilityZonesOutput({
    state: "available",
    excludeZoneIds: [...EKS_UNSUPPORTED_ZONE_IDS],
    filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
  }).names;
  const vpc = new aws.ec2.Vpc("eks", {
    cidrBlock: config.eksVpcCidr,
    enableDnsHostnames: true,
    enableDnsSupport: true,
    tags: { ...tags, Name: `${config.clusterName}` },
  });
  const gateway = new aws.ec2.InternetGateway("eks", { vpcId: vpc.id, tags });
  const publicRoutes = new aws.ec2.RouteTable("eks-public", {
    vpcId: vpc.id,
    routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }],
    tags,
  });
  const publicSubnetIds: pulumi.Output<string>[] = [];
  const privateSubnetIds: pulumi.Output<string>[] = [];
  const zoneNames: pulumi.Output<string>[] = [];
  const nats: aws.ec2.NatGateway[] = [];
  for (let i = 0; i < config.eksZoneCount; i++) {
    const zone = zones.apply((names) => {
      if (names.length <= i)
        throw new Error(
          `eksZoneCount=${config.eksZoneCount}: the region has ${names.length} zones EKS serves`,
        );
      return names[i];
    });
    const cidrs = subnetCidrs(config.eksVpcCidr, i);
    const publicSubnet = new aws.ec2.Subnet(`eks-public-${i}`, {
      vpcId: vpc.id,
      cidrBlock: cidrs.public,
      availabilityZone: zone,
      // Nothing launched here gets a public address unless it asks (the NAT gateway's is an Elastic IP).
      mapPublicIpOnLaunch: false,
      tags: { ...tags, ...clusterTag, "kubernetes.io/role/elb": "1" },
    });
    new aws.ec2.RouteTableAssociation(`eks-public-${i}`, {
      subnetId: publicSubnet.id,
      routeTableId: publicRoutes.id,
    });
    // One NAT gateway (cheaper; a zone outage there cuts the others' egress) or one per zone.
    if (i === 0 || config.eksNatGateway === "perZone") {
      const address = new aws.ec2.Eip(`eks-nat-${i}`, { domain: "vpc", tags });
      nats.push(
        new aws.ec2.NatGateway(
          `eks-nat-${i}`,
          { allocationId: address.id, subnetId: publicSubnet.id, tags },
          { dependsOn: [gateway] },
        ),
      );
    }
    const nat = nats[nats.length - 1];
    const privateSubnet = new aws.ec2.Subnet(`eks-private-${i}`, {
      vpcId: vpc.id,
      cidrBlock: cidrs.private,
      availabilityZone: zone,
      mapPublicIpOnLaunch: false,
      tags: { ...tags, ...clusterTag, "kubernetes.io/role/internal-elb": "1" },
    });
    const privateRoutes = new aws.ec2.RouteTable(`eks-private-${i}`, {
      vpcId: vpc.id,
      routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
      tags,
    });
    new aws.ec2.RouteTableAssociation(`eks-private-${i}`, {
      subnetId: privateSubnet.id,
      routeTableId: privateRoutes.id,
    });
    publicSubnetIds.push(publicSubnet.id);
    privateSubnetIds.push(privateSubnet.id);
    zoneNames.push(zone);
  }
  return { vpcId: vpc.id, publicSubnetIds, privateSubnetIds, zones: zoneNames };
}
