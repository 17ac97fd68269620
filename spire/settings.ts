/**
 * The defaults and checks that turn SpireInstallation's arguments (installationArgs.ts) into the settings the
 * builders use: the install branch here, the adopted one (`existing`) in existingSpire.ts, production and
 * federation in their own modules. Kept free of Pulumi so the SPIRE test harness can build the very same
 * configuration.
 */

import { checkImage } from "../core/images";
import {
  Checker,
  isAbsolutePath,
  isDnsLabel,
  isDnsSubdomain,
  isPort,
  isQuantity,
  parseDuration,
} from "../core/validation";
import { existingSpireLocation } from "./existingSpire";
import { type FederationSettings, federationSettings } from "./federation";
import { agentHostClaims } from "./hostClaims";
import type { ResourceSettings, SpireInstallationArgs, WorkloadApi } from "./installationArgs";
import { type ProductionSettings, productionDefaults, productionSettings } from "./production";
import { parseTrustDomain, trustDomainId } from "./spiffeId";
import { checkTolerations, TOLERATE_ALL, type Toleration } from "./tolerations";

export const SPIRE_VERSION = "1.13.3";
/** ca_ttl must be at least this many times every SVID TTL: the installation default's and each entry's. */
export const CA_TTL_FACTOR = 6;

/** Everything the builders need, defaults applied and checked. */
export interface SpireSettings extends ProductionSettings {
  readonly mode: "install" | "existing";
  readonly trustDomain: string;
  readonly trustDomainId: string;
  readonly clusterName: string;
  readonly namespace: string;
  readonly serverName: string;
  readonly agentName: string;
  readonly serverPod: string;
  readonly serverContainer: string;
  readonly serverBinary: string;
  readonly serverSocketPath?: string;
  readonly agentSocketDir: string;
  readonly agentSocketPath: string;
  readonly bundleConfigMap: string;
  readonly serverImage: string;
  readonly agentImage: string;
  readonly x509SvidTtl: string;
  readonly x509SvidTtlSeconds: number;
  readonly caTtl: string;
  readonly caKeyType: string;
  readonly logLevel: string;
  readonly storageSize: string;
  readonly storageClassName?: string;
  readonly serverPort: number;
  readonly serverHealthPort: number;
  readonly agentHealthPort: number;
  readonly skipKubeletVerification: boolean;
  /** Grant the agent `get nodes/proxy` too (clusters without fine-grained kubelet authorization). */
  readonly legacyNodesProxyGrant: boolean;
  readonly agentSyncInterval?: string;
  readonly serverCacheReloadInterval?: string;
  readonly serverResources: ResourceSettings;
  readonly agentResources: ResourceSettings;
  /** Selector types the installation has attestors for; entries using others can never match. */
  readonly selectorTypes: readonly string[];
  readonly workloadApi: WorkloadApi;
  readonly csiDriverImage: string;
  readonly csiRegistrarImage: string;
  readonly agentTolerations: readonly Toleration[];
  readonly protectData: boolean;
  /** Cluster-scoped names carry the namespace, so two installations (two stacks) can share a cluster. */
  readonly clusterRoles: { readonly server: string; readonly agent: string };
  /** The CSI driver's registered name, `<namespace>.csi.spiffe.io`: also cluster-scoped. */
  readonly csiDriverName: string;
  /** Federation, when configured; undefined otherwise. */
  readonly federation?: FederationSettings;
}

const caKeyTypes = ["rsa-2048", "rsa-4096", "ec-p256", "ec-p384"];
const logLevels = ["DEBUG", "INFO", "WARN", "ERROR"];
/** Selectors of the attestors we configure on Kubernetes (k8s_psat nodes, k8s workloads; no unix). */
const kubernetesSelectorTypes = ["k8s_psat", "k8s", "spiffe_id"];

export function spireSettings(args: SpireInstallationArgs): SpireSettings {
  const c = new Checker("SpireInstallation");
  const input = args ?? ({} as SpireInstallationArgs);
  const trustDomain = c.attempt("trustDomain", input.trustDomain, () => parseTrustDomain(input.trustDomain));
  const clusterName = input.clusterName ?? "k8s-cluster";
  c.check(
    typeof clusterName === "string" && /^[A-Za-z0-9._-]{1,63}$/.test(clusterName),
    "clusterName",
    clusterName,
    "must be 1-63 characters of letters, digits, '.', '_' or '-' (it becomes the k8s_psat:cluster selector)",
  );

  if (input.existing !== undefined) {
    const location = existingSpireLocation(c, input, input.existing);
    c.done();
    return { ...defaults(trustDomain as string, clusterName), mode: "existing", ...location };
  }

  const base = defaults(trustDomain as string, clusterName);
  const namespace = input.namespace ?? base.namespace;
  c.check(
    isDnsLabel(namespace),
    "namespace",
    namespace,
    "must be a Kubernetes namespace name (RFC 1123 label)",
  );
  // The agents' socket directory and host ports derive from the namespace, so two installations never share them.
  const hostClaims = agentHostClaims(isDnsLabel(namespace) ? namespace : base.namespace);
  const serverImage = input.serverImage ?? base.serverImage;
  checkImage(c, "serverImage", serverImage);
  const agentImage = input.agentImage ?? base.agentImage;
  checkImage(c, "agentImage", agentImage);
  const x509SvidTtl = input.x509SvidTtl ?? base.x509SvidTtl;
  const svidSeconds = c.attempt("x509SvidTtl", x509SvidTtl, () => parseDuration(x509SvidTtl));
  const caTtl = input.caTtl ?? base.caTtl;
  const caSeconds = c.attempt("caTtl", caTtl, () => parseDuration(caTtl));
  if (svidSeconds !== undefined && caSeconds !== undefined) {
    // SPIRE rotates an SVID at half its life; a CA of 6x the SVID TTL keeps every SVID, rotated or not, well
    // inside the signing CA's life (SPIRE itself warns below that).
    c.check(
      caSeconds >= CA_TTL_FACTOR * svidSeconds,
      "caTtl",
      caTtl,
      `must be at least ${CA_TTL_FACTOR}x x509SvidTtl (${x509SvidTtl})`,
    );
  }
  const caKeyType = input.caKeyType ?? base.caKeyType;
  c.check(caKeyTypes.includes(caKeyType), "caKeyType", caKeyType, `must be one of ${caKeyTypes.join(", ")}`);
  const logLevel = input.logLevel ?? base.logLevel;
  c.check(logLevels.includes(logLevel), "logLevel", logLevel, `must be one of ${logLevels.join(", ")}`);
  const storageSize = input.storageSize ?? base.storageSize;
  c.check(isQuantity(storageSize), "storageSize", storageSize, 'must be a Kubernetes quantity such as "1Gi"');
  if (input.storageClassName !== undefined) {
    c.check(
      isDnsSubdomain(input.storageClassName),
      "storageClassName",
      input.storageClassName,
      "must be a StorageClass name",
    );
  }
  const serverPort = input.serverPort ?? base.serverPort;
  c.check(isPort(serverPort), "serverPort", serverPort, "must be an integer port in 1-65535");
  c.check(
    serverPort !== base.serverHealthPort,
    "serverPort",
    serverPort,
    `must differ from the health port ${base.serverHealthPort}`,
  );
  const agentHealthPort = input.agentHealthPort ?? hostClaims.agentHealthPort;
  c.check(isPort(agentHealthPort), "agentHealthPort", agentHealthPort, "must be an integer port in 1-65535");
  const agentTolerations = input.agentTolerations ?? base.agentTolerations;
  checkTolerations(c, "agentTolerations", agentTolerations);
  const agentSocketDir = input.agentSocketDir ?? hostClaims.agentSocketDir;
  c.check(
    isAbsolutePath(agentSocketDir) && agentSocketDir.length + "/agent.sock".length <= 107,
    "agentSocketDir",
    agentSocketDir,
    "must be an absolute path short enough for a Unix socket (108 bytes with /agent.sock)",
  );
  for (const key of ["agentSyncInterval", "serverCacheReloadInterval"] as const) {
    const v = input[key];
    if (v !== undefined) c.attempt(key, v, () => parseDuration(v));
  }
  const serverResources = input.serverResources ?? base.serverResources;
  const agentResources = input.agentResources ?? base.agentResources;
  for (const [field, r] of [
    ["serverResources", serverResources],
    ["agentResources", agentResources],
  ] as const) {
    c.check(isQuantity(r?.cpu), `${field}.cpu`, r?.cpu, 'must be a Kubernetes quantity such as "100m"');
    c.check(
      isQuantity(r?.memory),
      `${field}.memory`,
      r?.memory,
      'must be a Kubernetes quantity such as "128Mi"',
    );
  }
  const workloadApi = input.workloadApi ?? base.workloadApi;
  c.check(
    workloadApi === "csi" || workloadApi === "hostPath",
    "workloadApi",
    workloadApi,
    "must be csi or hostPath",
  );
  const csiDriverImage = input.csiDriverImage ?? base.csiDriverImage;
  const csiRegistrarImage = input.csiRegistrarImage ?? base.csiRegistrarImage;
  for (const [field, image] of [
    ["csiDriverImage", csiDriverImage],
    ["csiRegistrarImage", csiRegistrarImage],
  ] as const) {
    checkImage(c, field, image);
  }
  const protectData = input.protectData ?? base.protectData;
  c.check(typeof protectData === "boolean", "protectData", protectData, "must be a boolean");
  const production = productionSettings(
    c,
    input,
    {
      server: { serverPort, "the health port": base.serverHealthPort },
      agent: { agentHealthPort },
    },
    { protectData: input.protectData },
    hostClaims.agentTelemetryPort,
  );
  const federation = federationSettings(c, input.federation, trustDomain, {
    serverPort,
    "the health port": base.serverHealthPort,
    ...(production.telemetry ? { "the telemetry port": production.telemetry.serverPort } : {}),
  });
  const skipKubeletVerification = input.skipKubeletVerification ?? true;
  c.check(
    typeof skipKubeletVerification === "boolean",
    "skipKubeletVerification",
    skipKubeletVerification,
    "must be a boolean",
  );
  const legacyNodesProxyGrant = input.legacyNodesProxyGrant ?? base.legacyNodesProxyGrant;
  c.check(
    typeof legacyNodesProxyGrant === "boolean",
    "legacyNodesProxyGrant",
    legacyNodesProxyGrant,
    "must be a boolean",
  );
  c.done();
  return {
    ...base,
    ...production,
    namespace,
    serverImage,
    agentImage,
    x509SvidTtl,
    x509SvidTtlSeconds: svidSeconds as number,
    caTtl,
    caKeyType,
    logLevel,
    storageSize,
    storageClassName: input.storageClassName,
    serverPort,
    agentHealthPort,
    agentSocketDir,
    agentSocketPath: `${agentSocketDir}/agent.sock`,
    skipKubeletVerification,
    legacyNodesProxyGrant,
    agentSyncInterval: input.agentSyncInterval,
    serverCacheReloadInterval: input.serverCacheReloadInterval,
    serverResources,
    agentResources,
    workloadApi,
    csiDriverImage,
    csiRegistrarImage,
    protectData,
    agentTolerations,
    clusterRoles: clusterRoleNames(namespace),
    csiDriverName: `${namespace}.csi.spiffe.io`,
    ...(federation ? { federation } : {}),
  };
}

const clusterRoleNames = (namespace: string) => ({
  server: `${namespace}-spire-server-trust-role`,
  agent: `${namespace}-spire-agent-cluster-role`,
});

function defaults(trustDomain: string, clusterName: string): SpireSettings {
  return {
    mode: "install",
    trustDomain,
    trustDomainId: trustDomainId(trustDomain),
    clusterName,
    namespace: "spire",
    serverName: "spire-server",
    agentName: "spire-agent",
    serverPod: "spire-server-0",
    serverContainer: "spire-server",
    serverBinary: "/opt/spire/bin/spire-server",
    agentSocketDir: "/run/spire/sockets",
    agentSocketPath: "/run/spire/sockets/agent.sock",
    bundleConfigMap: "spire-bundle",
    serverImage: `ghcr.io/spiffe/spire-server:${SPIRE_VERSION}`,
    agentImage: `ghcr.io/spiffe/spire-agent:${SPIRE_VERSION}`,
    x509SvidTtl: "1h",
    x509SvidTtlSeconds: 3600,
    caTtl: "24h",
    caKeyType: "rsa-2048",
    logLevel: "INFO",
    storageSize: "1Gi",
    serverPort: 8081,
    serverHealthPort: 8080,
    agentHealthPort: 9982,
    skipKubeletVerification: true,
    legacyNodesProxyGrant: false,
    serverResources: { cpu: "100m", memory: "256Mi" },
    agentResources: { cpu: "50m", memory: "128Mi" },
    selectorTypes: kubernetesSelectorTypes,
    workloadApi: "csi",
    csiDriverImage: "ghcr.io/spiffe/spiffe-csi-driver:0.2.12",
    csiRegistrarImage: "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.15.0",
    protectData: true,
    agentTolerations: TOLERATE_ALL,
    clusterRoles: clusterRoleNames("spire"),
    csiDriverName: "spire.csi.spiffe.io",
    ...productionDefaults,
  };
}

/** argv that runs the server CLI inside the server pod; the image has no shell, so no `sh -c`. */
export function serverExecPrefix(s: SpireSettings): string[] {
  return [
    "kubectl",
    "exec",
    "-i",
    "-n",
    s.namespace,
    s.serverPod,
    "-c",
    s.serverContainer,
    "--",
    s.serverBinary,
  ];
}
