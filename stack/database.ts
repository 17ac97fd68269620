/**
 * The eks stack's SPIRE datastore when spireDatastore=rds: RDS PostgreSQL inside the cluster's VPC, reachable only
 * from the node security group (pods on the VPC CNI connect from their node's), encrypted at rest, with a
 * generated password that exists only as a Pulumi secret and in the Kubernetes Secret the servers read. The
 * servers verify it (sslmode=verify-full against the RDS CA bundle the stack is given), each opens no more
 * connections than its share of the instance class's limit, and destroy leaves one tagged final snapshot named
 * for the stack.
 */
import * as aws from "@pulumi/aws";
import type * as eks from "@pulumi/eks";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DATASTORE_CA_FILE } from "../spire/production";
import { stackTags } from "./awsTags";
import type { StackConfig } from "./configSchema";

const DB_NAME = "spire";
const DB_USER = "spire";
const PORT = 5432;

/** How the servers reach RDS: TLS, verified against the RDS CA bundle mounted at DATASTORE_CA_FILE. */
const rdsTls = (caFile: string) => `sslmode=verify-full sslrootcert=${caFile}`;
export const RDS_TLS = rdsTls(DATASTORE_CA_FILE);

/**
 * The servers' libpq connection string for the instance (the password: letters and digits only). `caFile` is
 * where the pods mount the bundle; only a test running SPIRE outside a pod names another.
 */
export const rdsConnectionString = (
  address: string,
  port: number,
  password: string,
  caFile = DATASTORE_CA_FILE,
): string =>
  `dbname=${DB_NAME} host=${address} port=${port} user=${DB_USER} password=${password} ${rdsTls(caFile)}`;

/** Tags on the instance, copied to every snapshot of it, the final one included: whose it is. */
export const databaseTags = (): Record<string, string> => ({
  ...stackTags(),
  "spire-mesh:purpose": "spire-datastore",
});

/**
 * An RDS snapshot identifier: letters, digits and single hyphens, starting with a letter, at most 255. The
 * stack and project make it findable, the random suffix (new with every fresh database) unique, so a second
 * destroy in the account does not collide with the first one's snapshot.
 */
export function finalSnapshotIdentifier(project: string, stack: string, suffix: string): string {
  const clean = (x: string) =>
    x
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "");
  const id = ["spire-db-final", clean(project), clean(stack), clean(suffix)].filter(Boolean).join("-");
  return id.slice(0, 255).replace(/-+$/, "");
}

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
    tags: databaseTags(),
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
    tags: databaseTags(),
  });
  // Letters and digits only: the password is substituted into server.conf, where a quote or backslash would
  // end the string (spire/production.ts refuses those).
  const password = new random.RandomPassword("spire-db", { length: 40, special: false });
  const snapshotSuffix = new random.RandomId("spire-db-final-snapshot", { byteLength: 4 });
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
      finalSnapshotIdentifier: snapshotSuffix.hex.apply((hex) =>
        finalSnapshotIdentifier(pulumi.getProject(), pulumi.getStack(), hex),
      ),
      skipFinalSnapshot: false,
      copyTagsToSnapshot: true,
      tags: databaseTags(),
      // It holds every entry: AWS refuses to delete it, and Pulumi too, until spireProtectData=false is applied.
      deletionProtection: config.spireProtectData,
      applyImmediately: false,
    },
    { protect: config.spireProtectData },
  );
  // verify-full: the certificate must chain to the RDS CA bundle mounted at DATASTORE_CA_FILE and name this
  // instance's address, so nothing between the servers and the database can read the password.
  const connectionString = pulumi.secret(
    pulumi
      .all([instance.address, instance.port, password.result])
      .apply(([address, port, secret]) => rdsConnectionString(address, port, secret)),
  );
  return { connectionString, databaseId: instance.resourceId, instance };
}

/** Memory (GiB) of the RDS instance sizes, the same across the burstable and general-purpose families. */
const SIZE_GIB: Readonly<Record<string, number>> = {
  micro: 1,
  small: 2,
  medium: 4,
  large: 8,
  xlarge: 16,
  "2xlarge": 32,
  "4xlarge": 64,
  "8xlarge": 128,
};
/** Memory-optimized families have twice the memory per size. */
const MEMORY_OPTIMIZED = /^db\.(r|x)\d/;
/**
 * RDS PostgreSQL's default max_connections is LEAST(DBInstanceClassMemory / 9531392, 5000), and
 * DBInstanceClassMemory is the class's memory less what RDS reserves: about three quarters of it on small
 * classes (a db.t4g.micro allows about 80). Kept for superuser, replication and an operator's psql.
 */
const RESERVED_CONNECTIONS = 15;

/** The RDS default connection limit of `instanceClass`, or undefined for a class this table does not know. */
export function rdsMaxConnections(instanceClass: string): number | undefined {
  const size = /^db\.[a-z0-9-]+\.([a-z0-9]+)$/.exec(instanceClass)?.[1];
  const gib = size === undefined ? undefined : SIZE_GIB[size];
  if (gib === undefined) return undefined;
  const bytes = gib * (MEMORY_OPTIMIZED.test(instanceClass) ? 2 : 1) * 1024 ** 3 * 0.75;
  return Math.min(Math.floor(bytes / 9531392), 5000);
}

/**
 * SPIRE's max_open_conns per server: the instance's limit less a reserve, shared by the replicas. SPIRE's default
 * (100 each) would have three servers ask a db.t4g.micro for 300 of its ~80.
 */
export function maxOpenConnsPerServer(instanceClass: string, replicas: number): number | undefined {
  const limit = rdsMaxConnections(instanceClass);
  if (limit === undefined) return undefined;
  return Math.max(1, Math.floor((limit - RESERVED_CONNECTIONS) / replicas));
}
