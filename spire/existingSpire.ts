/**
 * Adopting a SPIRE that is already running (the walkthrough's "Option 2"): where its server pod, binary,
 * sockets and bundle ConfigMap are, checked, and the refusal of every argument that only applies when we
 * install. settings.ts merges the result over its defaults; the install branch is checked there. Pure: no Pulumi.
 */
import { type Checker, isAbsolutePath, isDnsLabel, isDnsSubdomain } from "../core/validation";
import { SPIFFE_CSI_DRIVER } from "./csiDriver";
import type { ExistingSpireArgs, SpireInstallationArgs, WorkloadApi } from "./installationArgs";
import { productionKeys } from "./production";

/** Native sidecars (init containers with restartPolicy Always) are on by default from this minor version. */
export const NATIVE_SIDECAR_MINOR = 29;
const kubernetesVersion = /^v?1\.(\d+)(\.\d+)?([-+][0-9A-Za-z.+-]*)?$/;

/** The adopted cluster must run Envoy as a native sidecar, as every meshed pod does. */
function checkKubernetesVersion(c: Checker, version: unknown) {
  const rule = `must be the cluster's Kubernetes version, 1.${NATIVE_SIDECAR_MINOR} or later (e.g. "1.33"): meshed pods run Envoy as a native sidecar, an init container with restartPolicy Always`;
  const match = typeof version === "string" ? kubernetesVersion.exec(version) : null;
  if (!match) {
    c.fail("existing.kubernetesVersion", version, rule);
    return;
  }
  c.check(Number(match[1]) >= NATIVE_SIDECAR_MINOR, "existing.kubernetesVersion", version, rule);
}

/**
 * Arguments that configure a SPIRE we install: given with `existing` they would silently do nothing, so they are
 * refused. A new install-only argument of SpireInstallationArgs belongs here.
 */
const installOnly = [
  "namespace",
  "serverImage",
  "agentImage",
  "x509SvidTtl",
  "caTtl",
  "caKeyType",
  "logLevel",
  "storageSize",
  "storageClassName",
  "serverPort",
  "agentHealthPort",
  "agentSocketDir",
  "skipKubeletVerification",
  "legacyNodesProxyGrant",
  "agentSyncInterval",
  "serverCacheReloadInterval",
  "serverResources",
  "agentResources",
  "workloadApi",
  "csiDriverImage",
  "csiRegistrarImage",
  "protectData",
  "agentTolerations",
  "federation",
  ...productionKeys,
] as const;

/** The fields of SpireSettings that `existing` decides: where the adopted SPIRE's pieces are. */
export interface ExistingSpireLocation {
  readonly workloadApi: WorkloadApi;
  readonly csiDriverName: string;
  readonly namespace: string;
  readonly serverPod: string;
  readonly serverContainer: string;
  readonly serverBinary: string;
  readonly serverSocketPath?: string;
  readonly agentSocketDir: string;
  readonly agentSocketPath: string;
  readonly bundleConfigMap: string;
}

/** Checks `existing` (`e`) and that `input` gives no install-only argument next to it. */
export function existingSpireLocation(
  c: Checker,
  input: SpireInstallationArgs,
  e: ExistingSpireArgs,
): ExistingSpireLocation {
  const given = installOnly.filter((k) => input[k] !== undefined);
  if (given.length > 0) {
    c.fail("existing", Object.keys(e), `conflicts with install-only arguments ${given.join(", ")}`);
  }
  c.check(isDnsLabel(e.namespace), "existing.namespace", e.namespace, "must be a Kubernetes namespace name");
  c.check(isDnsSubdomain(e.serverPod), "existing.serverPod", e.serverPod, "must name the server pod");
  const serverContainer = e.serverContainer ?? "spire-server";
  c.check(
    isDnsLabel(serverContainer),
    "existing.serverContainer",
    serverContainer,
    "must be a container name",
  );
  const serverBinary = e.serverBinary ?? "/opt/spire/bin/spire-server";
  c.check(isAbsolutePath(serverBinary), "existing.serverBinary", serverBinary, "must be an absolute path");
  if (e.serverSocketPath !== undefined) {
    c.check(
      isAbsolutePath(e.serverSocketPath),
      "existing.serverSocketPath",
      e.serverSocketPath,
      "must be an absolute path",
    );
  }
  const agentSocketPath = e.agentSocketPath ?? "/run/spire/sockets/agent.sock";
  c.check(
    isAbsolutePath(agentSocketPath),
    "existing.agentSocketPath",
    agentSocketPath,
    "must be an absolute path",
  );
  const bundleConfigMap = e.bundleConfigMap ?? "spire-bundle";
  c.check(
    isDnsSubdomain(bundleConfigMap),
    "existing.bundleConfigMap",
    bundleConfigMap,
    "must be a ConfigMap name",
  );
  const workloadApi = e.workloadApi ?? "csi";
  const csiDriverName = e.csiDriverName ?? SPIFFE_CSI_DRIVER;
  c.check(
    isDnsSubdomain(csiDriverName),
    "existing.csiDriverName",
    csiDriverName,
    "must be a CSI driver name",
  );
  c.check(
    workloadApi === "csi" || workloadApi === "hostPath",
    "existing.workloadApi",
    workloadApi,
    "must be csi or hostPath",
  );
  checkKubernetesVersion(c, e.kubernetesVersion);
  return {
    workloadApi,
    csiDriverName,
    namespace: e.namespace,
    serverPod: e.serverPod,
    serverContainer,
    serverBinary,
    serverSocketPath: e.serverSocketPath,
    agentSocketDir: agentSocketPath.slice(0, agentSocketPath.lastIndexOf("/")) || "/",
    agentSocketPath,
    bundleConfigMap,
  };
}
