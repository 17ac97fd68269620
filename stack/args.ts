/**
 * Component arguments from the stack's config: the one mapping used both by the program and by the config check
 * (which runs the components' own validators so that every problem is reported at once, under config key names).
 */
import type { ColorAppArgs, ColorAppGatewayArgs } from "../mesh/colorApp";
import { DataPlane } from "../mesh/envoySidecar";
import { TlsMode } from "../mesh/virtualNode";
import type { SpireInstallationArgs } from "../spire/installationArgs";
import type { DatastoreArgs, PassThrough, UpstreamAuthorityArgs } from "../spire/production";
import type { StackConfig } from "./configSchema";
import { maxOpenConnsPerServer, RDS_TLS } from "./database";

type PostgresArgs = Extract<DatastoreArgs, { type: "postgres" }>;

/** What the stack creates for SPIRE before the installation: the RDS database and the ACM-PCA role. */
export interface SpireWiring {
  readonly database?: {
    readonly connectionString: PassThrough<string>;
    readonly databaseId: PassThrough<string>;
  };
  readonly pcaRoleArn?: PassThrough<string>;
}

/** Stands in for the RDS connection string while config is checked, before the database exists. */
const RDS_PENDING = `(the RDS instance's, once created) ${RDS_TLS}`;

/** The database's CA bundle and each server's connection budget, from config or sized to the RDS class. */
function datastoreTuning(config: StackConfig): Pick<PostgresArgs, "caBundle" | "maxOpenConns"> {
  const maxOpenConns =
    config.spireDatastoreMaxOpenConns ||
    (config.spireDatastore === "rds"
      ? maxOpenConnsPerServer(config.spireRdsInstanceClass, config.spireReplicas)
      : undefined);
  return {
    ...(config.spireDatastoreCaBundle ? { caBundle: config.spireDatastoreCaBundle } : {}),
    ...(maxOpenConns ? { maxOpenConns } : {}),
  };
}

function datastore(config: StackConfig, wiring: SpireWiring): DatastoreArgs | undefined {
  if (config.spireDatastore === "postgres") {
    return {
      type: "postgres",
      connectionString: config.spirePostgresConnectionString,
      ...datastoreTuning(config),
    };
  }
  if (config.spireDatastore === "rds") {
    return {
      type: "postgres",
      connectionString: wiring.database?.connectionString ?? RDS_PENDING,
      databaseId: wiring.database?.databaseId,
      ...datastoreTuning(config),
    };
  }
  return undefined;
}

/** An image key's value, or the component's default when empty. */
const image = (value: string): string | undefined => value || undefined;

function upstreamAuthority(config: StackConfig, wiring: SpireWiring): UpstreamAuthorityArgs | undefined {
  if (config.spireUpstreamAuthority === "disk")
    return { type: "disk", secretName: config.spireUpstreamCaSecret };
  if (config.spireUpstreamAuthority === "awsPca") {
    return {
      type: "awsPca",
      certificateAuthorityArn: config.spireAwsPcaArn,
      region: config.spireAwsPcaRegion,
      serviceAccountRoleArn: wiring.pcaRoleArn,
    };
  }
  return undefined;
}

export function spireArgs(config: StackConfig, wiring: SpireWiring = {}): SpireInstallationArgs {
  if (config.spire === "existing") {
    return {
      trustDomain: config.trustDomain,
      clusterName: config.clusterName,
      existing: {
        namespace: config.spireExistingNamespace,
        serverPod: config.spireExistingServerPod,
        serverContainer: config.spireExistingServerContainer || undefined,
        agentSocketPath: config.spireExistingAgentSocketPath || undefined,
        kubernetesVersion: config.spireExistingKubernetesVersion,
        // The adopted SPIRE's CSI driver unless told otherwise: auto means the default (csi).
        workloadApi: config.spireWorkloadApi === "auto" ? undefined : config.spireWorkloadApi,
      },
    };
  }
  return {
    trustDomain: config.trustDomain,
    clusterName: config.clusterName,
    serverImage: image(config.spireServerImage),
    agentImage: image(config.spireAgentImage),
    csiDriverImage: image(config.spireCsiDriverImage),
    csiRegistrarImage: image(config.spireCsiRegistrarImage),
    x509SvidTtl: config.svidTtl,
    caTtl: config.caTtl,
    storageSize: config.spireStorageSize,
    storageClassName: config.spireStorageClass || undefined,
    datastore: datastore(config, wiring),
    replicas: config.spireReplicas,
    // On EKS the node groups span zones: a zone outage then takes at most one server.
    spreadAcross: config.cluster === "eks" ? "zones" : "nodes",
    upstreamAuthority: upstreamAuthority(config, wiring),
    ...(config.spireTelemetry
      ? {
          telemetry: {
            serverPort: config.spireServerTelemetryPort,
            agentPort: config.spireAgentTelemetryPort || undefined,
          },
        }
      : {}),
    agentSyncInterval: config.spireAgentSyncInterval || undefined,
    serverCacheReloadInterval: config.spireServerCacheReloadInterval || undefined,
    namespace: config.spireNamespace,
    // Empty or 0: derived from the namespace (spire/hostClaims.ts).
    agentSocketDir: config.spireAgentSocketDir || undefined,
    agentHealthPort: config.spireAgentHealthPort || undefined,
    legacyNodesProxyGrant: config.spireLegacyNodesProxyGrant,
    // EKS's AL2023 kubelets serve certificates the cluster CA signs; elsewhere they are often self-signed.
    skipKubeletVerification:
      config.spireSkipKubeletVerification === "auto"
        ? config.cluster !== "eks"
        : config.spireSkipKubeletVerification === "true",
    // With a database the entries live there; spireProtectData then protects the RDS instance (stack/database.ts).
    protectData: config.spireDatastore === "sqlite" ? config.spireProtectData : undefined,
    // App Mesh's injector mounts the agent socket by hostPath; the envoy data plane can use the CSI driver.
    workloadApi:
      config.spireWorkloadApi === "auto"
        ? config.dataPlane === "envoy"
          ? "csi"
          : "hostPath"
        : config.spireWorkloadApi,
  };
}

/** The demo's arguments; its trust domain comes from the installation it runs under. */
export function colorAppArgs(
  config: StackConfig,
): Omit<ColorAppArgs, "trustDomain" | "registeredIdentities"> {
  const envoy = config.dataPlane === "envoy";
  return {
    namespace: config.appNamespace,
    ...(config.meshName ? { meshName: config.meshName } : {}),
    dataPlane: envoy ? DataPlane.Envoy : DataPlane.AppMesh,
    // The image key always has its default, so it is passed only where it means something.
    ...(envoy ? { envoyImage: config.envoyImage } : {}),
    ...(config.appNodeImage ? { nodeImage: config.appNodeImage } : {}),
    ...(config.gateway ? { gateway: gatewayArgs(config) } : {}),
  };
}

/** The gateway's listener: STRICT admitting exactly gatewayCallers, or plaintext (the defaults) without any. */
function gatewayArgs(config: StackConfig): ColorAppGatewayArgs | true {
  const callers = config.gatewayCallers
    .split(",")
    .map((id) => id.trim())
    .filter(Boolean);
  return callers.length > 0 ? { listener: { tlsMode: TlsMode.Strict, callers } } : true;
}

/** Per component, field -> the config key it comes from, so component problems read as config problems. */
export const configKeyOf: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  SpireInstallation: {
    trustDomain: "trustDomain",
    clusterName: "clusterName",
    x509SvidTtl: "svidTtl",
    caTtl: "caTtl",
    storageSize: "spireStorageSize",
    storageClassName: "spireStorageClass",
    agentSyncInterval: "spireAgentSyncInterval",
    serverCacheReloadInterval: "spireServerCacheReloadInterval",
    namespace: "spireNamespace",
    agentSocketDir: "spireAgentSocketDir",
    agentHealthPort: "spireAgentHealthPort",
    workloadApi: "spireWorkloadApi",
    protectData: "spireProtectData",
    legacyNodesProxyGrant: "spireLegacyNodesProxyGrant",
    skipKubeletVerification: "spireSkipKubeletVerification",
    "datastore.type": "spireDatastore",
    "datastore.connectionString": "spirePostgresConnectionString",
    "datastore.caBundle": "spireDatastoreCaBundle",
    "datastore.maxOpenConns": "spireDatastoreMaxOpenConns",
    serverImage: "spireServerImage",
    agentImage: "spireAgentImage",
    csiDriverImage: "spireCsiDriverImage",
    csiRegistrarImage: "spireCsiRegistrarImage",
    replicas: "spireReplicas",
    "upstreamAuthority.type": "spireUpstreamAuthority",
    "upstreamAuthority.secretName": "spireUpstreamCaSecret",
    "upstreamAuthority.certificateAuthorityArn": "spireAwsPcaArn",
    "upstreamAuthority.region": "spireAwsPcaRegion",
    "telemetry.serverPort": "spireServerTelemetryPort",
    "telemetry.agentPort": "spireAgentTelemetryPort",
    "existing.namespace": "spireExistingNamespace",
    "existing.serverPod": "spireExistingServerPod",
    "existing.serverContainer": "spireExistingServerContainer",
    "existing.agentSocketPath": "spireExistingAgentSocketPath",
    "existing.kubernetesVersion": "spireExistingKubernetesVersion",
    "existing.workloadApi": "spireWorkloadApi",
  },
  ColorApp: {
    trustDomain: "trustDomain",
    namespace: "appNamespace",
    meshName: "meshName",
    envoyImage: "envoyImage",
    nodeImage: "appNodeImage",
    "gateway.listener.callers": "gatewayCallers",
  },
};
