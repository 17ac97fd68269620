/**
 * Adopting a SPIRE that is already running (the walkthrough's "Option 2"): where its server pod, binary,
 * sockets and bundle ConfigMap are, checked, and the refusal of every argument that only applies when we
 * install. settings.ts merges the result over its defaults; the install branch is checked there. Pure: no Pulumi.
 */
import { type Checker, isAbsolutePath, isDnsLabel, isDnsSubdomain } from "../core/validation";
import type { ExistingSpireArgs, SpireInstallationArgs, WorkloadApi } from "./installationArgs";
import { productionKeys } from "./production";

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
  const workloadApi = e.workloadApi ?? "hostPath";
  const csiDriverName = e.csiDriverName ?? "csi.spiffe.io";
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
