/**
 * The eks stack's SPIRE datastore when spireDatastore=rds: RDS PostgreSQL inside the cluster's VPC, reachable only
 * from the node security group (pods on the VPC CNI connect from their node's), encrypted at rest, with a
 * generated password that exists only as a Pulumi secret and in the Kubernetes Secret the servers read.
 */
import * as aws from "@pulumi/aws";
import type * as eks from "@pulumi/eks";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { StackConfig } from "./configSchema";

const DB_NAME = "spire";
const DB_USER = "spire";
const PORT = 5432;

export interface SpireDatabase {
  /** libpq connection string with the password: a secret. */
  readonly connectionString: pulumi.Output<string>;
  /** The instance's resource ID: changes when the database is replaced, which re-asserts the entries. */
  readonly databaseId: pulumi.Output<string>;
  readonly instance: aws.rds.Instance;
}

export function spireDatabase(config: StackConfig, cluster: eks.Cluster): SpireDatabase {
  // Private subnets when the cluster has them; otherwise its own subnets (the instance is never public).
  const subnetIds = cluster.core.apply((core) =>
    core.privateSubnetIds && core.privateSubnetIds.length > 0 ? core.privateSubnetIds : core.subnetIds,
  );
  const subnets = new aws.rds.SubnetGroup("spire-db", {
    subnetIds,
    description: "SPIRE datastore: the EKS cluster's subnets",
  });
  const firewall = new aws.ec2.SecurityGroup("spire-db", {
    vpcId: cluster.eksCluster.vpcConfig.vpcId,
    description: "SPIRE datastore: PostgreSQL from the cluster's nodes only",
    ingress: [
      {
        description: "PostgreSQL from the EKS node security group",
        protocol: "tcp",
        fromPort: PORT,
        toPort: PORT,
        securityGroups: [cluster.nodeSecurityGroupId],
      },
    ],
  });
  // Letters and digits only: the password is substituted into server.conf, where a quote or backslash would
  // end the string (spire/production.ts refuses those).
  const password = new random.RandomPassword("spire-db", { length: 40, special: false });
  const instance = new aws.rds.Instance(
    "spire-db",
    {
      engine: "postgres",
      engineVersion: "16",
      instanceClass: config.spireRdsInstanceClass,
      allocatedStorage: 20,
      storageType: "gp3",
      storageEncrypted: true,
      dbName: DB_NAME,
      username: DB_USER,
      password: password.result,
      port: PORT,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [firewall.id],
      publiclyAccessible: false,
      // The database is every server's single dependency: a standby in a second zone, and backups.
      multiAz: true,
      backupRetentionPeriod: 7,
      finalSnapshotIdentifier: "spire-db-final",
      skipFinalSnapshot: false,
      applyImmediately: false,
    },
    // It holds every entry: protected like the sqlite volume is.
    { protect: config.spireProtectData },
  );
  // sslmode=require: RDS serves TLS; verify-full would also need the RDS CA bundle in the server image.
  const connectionString = pulumi.secret(
    pulumi.interpolate`dbname=${DB_NAME} host=${instance.address} port=${instance.port} user=${DB_USER} password=${password.result} sslmode=require`,
  );
  return { connectionString, databaseId: instance.resourceId, instance };
}
