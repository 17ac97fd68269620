/**
 * Component arguments from the stack's config: the one mapping used both by the program and by the config check
 * (which runs the components' own validators so that every problem is reported at once, under config key names).
 */
import type { ColorAppArgs } from "../mesh/colorApp";
import { DataPlane } from "../mesh/envoySidecar";
import type { SpireInstallationArgs } from "../spire/settings";
import type { StackConfig } from "./configSchema";

export function spireArgs(config: StackConfig): SpireInstallationArgs {
  if (config.spire === "existing") {
    return {
      trustDomain: config.trustDomain,
      clusterName: config.clusterName,
      existing: {
        namespace: config.spireExistingNamespace,
        serverPod: config.spireExistingServerPod,
        serverContainer: config.spireExistingServerContainer || undefined,
        agentSocketPath: config.spireExistingAgentSocketPath || undefined,
      },
    };
  }
  return {
    trustDomain: config.trustDomain,
    clusterName: config.clusterName,
    x509SvidTtl: config.svidTtl,
    caTtl: config.caTtl,
    storageSize: config.spireStorageSize,
    storageClassName: config.spireStorageClass || undefined,
    agentSyncInterval: config.spireAgentSyncInterval || undefined,
    serverCacheReloadInterval: config.spireServerCacheReloadInterval || undefined,
    namespace: config.spireNamespace,
    agentSocketDir: config.spireAgentSocketDir,
    agentHealthPort: config.spireAgentHealthPort,
    protectData: config.spireProtectData,
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
    ...(config.gateway ? { gateway: true } : {}),
  };
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
    "existing.namespace": "spireExistingNamespace",
    "existing.serverPod": "spireExistingServerPod",
    "existing.serverContainer": "spireExistingServerContainer",
    "existing.agentSocketPath": "spireExistingAgentSocketPath",
  },
  ColorApp: {
    trustDomain: "trustDomain",
    namespace: "appNamespace",
    meshName: "meshName",
    envoyImage: "envoyImage",
  },
};
