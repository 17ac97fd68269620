/**
 * The stack's config keys: their TypeScript shape, the choices Pulumi.yaml cannot express, and the declarations
 * Pulumi.yaml holds (type, default, description). Read by the config reader and by the arguments mapping alike.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

export type Declared = { type: "string" | "integer" | "boolean"; default?: unknown; description?: string };

export interface StackConfig {
  readonly cluster: "existing" | "eks";
  readonly kubeconfig: string;
  readonly kubeContext: string;
  // --- eks stack as a real AWS account takes it (issue 27; helper eksa) ---
  readonly eksVersion: string;
  readonly eksAllowExtendedSupport: boolean;
  readonly eksInstanceType: string;
  readonly eksNodeReleaseVersion: string;
  readonly eksNodesPerZone: number;
  readonly eksZoneCount: number;
  readonly eksNatGateway: "single" | "perZone";
  readonly eksVpcCidr: string;
  readonly eksPublicAccessCidrs: string;
  readonly eksDeployRoleArn: string;
  readonly eksAdminRoleArns: string;
  readonly eksPreviewRoleArns: string;
  readonly spireSkipKubeletVerification: "auto" | "true" | "false";
  // --- end eksa ---
  readonly dataPlane: "envoy" | "appmesh";
  readonly envoyImage: string;
  readonly appmeshControllerChart: string;
  readonly appmeshControllerVersion: string;
  readonly trustDomain: string;
  readonly clusterName: string;
  readonly spire: "install" | "existing";
  readonly spireExistingNamespace: string;
  readonly spireExistingServerPod: string;
  readonly spireExistingServerContainer: string;
  readonly spireExistingAgentSocketPath: string;
  readonly spireExistingKubernetesVersion: string;
  readonly svidTtl: string;
  readonly caTtl: string;
  readonly spireAgentSyncInterval: string;
  readonly spireServerCacheReloadInterval: string;
  readonly spireStorageSize: string;
  readonly spireStorageClass: string;
  readonly spireProtectData: boolean;
  readonly spireNamespace: string;
  readonly spireAgentSocketDir: string;
  readonly spireAgentHealthPort: number;
  readonly spireWorkloadApi: "auto" | "csi" | "hostPath";
  readonly spireLegacyNodesProxyGrant: boolean;
  readonly spireDeleteEntriesWithoutServer: boolean;
  readonly spireDatastore: "sqlite" | "postgres" | "rds";
  readonly spirePostgresConnectionString: string;
  readonly spireRdsInstanceClass: string;
  readonly spireReplicas: number;
  readonly spireUpstreamAuthority: "none" | "disk" | "awsPca";
  readonly spireUpstreamCaSecret: string;
  readonly spireAwsPcaArn: string;
  readonly spireAwsPcaRegion: string;
  readonly spireTelemetry: boolean;
  readonly spireServerTelemetryPort: number;
  readonly spireAgentTelemetryPort: number;
  readonly appNamespace: string;
  readonly meshName: string;
  readonly registerGreen: boolean;
  readonly gateway: boolean;
  readonly gatewayCallers: string;
  readonly entryRegistration: "perEntry" | "batch";
  // --- Datastore TLS and sizing, volumes, image pinning (issues 21 and 27: the RDS/volume/digest findings) ---
  readonly spireDatastoreCaBundle: string;
  readonly spireDatastoreMaxOpenConns: number;
  readonly spireKeepVolumes: boolean;
  readonly spireServerImage: string;
  readonly spireAgentImage: string;
  readonly spireCsiDriverImage: string;
  readonly spireCsiRegistrarImage: string;
  readonly appNodeImage: string;
  readonly requireImageDigests: boolean;
}

export const choices: Partial<Record<keyof StackConfig, readonly string[]>> = {
  cluster: ["existing", "eks"],
  dataPlane: ["envoy", "appmesh"],
  spire: ["install", "existing"],
  spireWorkloadApi: ["auto", "csi", "hostPath"],
  entryRegistration: ["perEntry", "batch"],
  spireDatastore: ["sqlite", "postgres", "rds"],
  spireUpstreamAuthority: ["none", "disk", "awsPca"],
  // --- eksa ---
  eksNatGateway: ["single", "perZone"],
  spireSkipKubeletVerification: ["auto", "true", "false"],
  // --- end eksa ---
};

/** A kubeconfig given inline (YAML or JSON) rather than as a path. */
export const isInlineKubeconfig = (value: string): boolean =>
  value.includes("\n") || value.trimStart().startsWith("{");

export function declaredConfig(projectDir = path.resolve(__dirname, "..")): Record<string, Declared> {
  const project = parse(fs.readFileSync(path.join(projectDir, "Pulumi.yaml"), "utf8")) as {
    config: Record<string, Declared>;
  };
  return project.config;
}
