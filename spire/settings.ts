/**
 * SpireInstallation's arguments, their defaults, and the checks that turn them into settings the builders use.
 * Kept free of Pulumi so the SPIRE test harness can build the very same configuration.
 */

import {
  Checker,
  isAbsolutePath,
  isDnsLabel,
  isDnsSubdomain,
  isPort,
  isQuantity,
  parseDuration,
} from "../core/validation";
import { type FederationArgs, type FederationSettings, federationSettings } from "./federation";
import {
  type ProductionArgs,
  type ProductionSettings,
  productionDefaults,
  productionKeys,
  productionSettings,
} from "./production";
import { parseTrustDomain, trustDomainId } from "./spiffeId";
import { checkTolerations, TOLERATE_ALL, type Toleration } from "./tolerations";

export const SPIRE_VERSION = "1.13.3";
/** ca_ttl must be at least this many times every SVID TTL: the installation default's and each entry's. */
export const CA_TTL_FACTOR = 6;

/** Adopts a SPIRE that is already running (the walkthrough's "Option 2"); nothing is installed. */
export interface ExistingSpireArgs {
  /** Namespace of the SPIRE server pod, e.g. "spire". */
  readonly namespace: string;
  /** Name of a server pod to `kubectl exec` into, e.g. "spire-server-0". */
  readonly serverPod: string;
  /** Container of that pod that holds the server binary. Default "spire-server". */
  readonly serverContainer?: string;
  /** Path of the server binary inside the container. Default "/opt/spire/bin/spire-server". */
  readonly serverBinary?: string;
  /** The server's admin API socket, when it is not SPIRE's default /tmp/spire-server/private/api.sock. */
  readonly serverSocketPath?: string;
  /** The agent's Workload API/SDS socket on each node. Default "/run/spire/sockets/agent.sock". */
  readonly agentSocketPath?: string;
  /** ConfigMap the server publishes its bundle to. Default "spire-bundle". */
  readonly bundleConfigMap?: string;
  /** How pods reach its agents' socket: `hostPath` (default) or `csi` when a SPIFFE CSI driver is installed. */
  readonly workloadApi?: WorkloadApi;
  /** csi: the driver's name. Default csi.spiffe.io. */
  readonly csiDriverName?: string;
}

export interface ResourceSettings {
  readonly cpu: string;
  readonly memory: string;
}

export interface SpireInstallationArgs extends ProductionArgs {
  /** SPIFFE trust domain, e.g. "howto-k8s-mtls-sds-based.aws". Lowercase letters, digits, ".", "-", "_". */
  readonly trustDomain: string;
  /** Name agents attest with (k8s_psat `cluster`); it appears in node selectors. Default "k8s-cluster". */
  readonly clusterName?: string;
  /** Adopt a running SPIRE instead of installing one. Conflicts with every install-only argument. */
  readonly existing?: ExistingSpireArgs;
  /** Namespace to install into. Default "spire". */
  readonly namespace?: string;
  /** Server image. Default ghcr.io/spiffe/spire-server:1.13.3. */
  readonly serverImage?: string;
  /** Agent image. Default ghcr.io/spiffe/spire-agent:1.13.3. */
  readonly agentImage?: string;
  /** Default X.509-SVID lifetime (`default_x509_svid_ttl`), e.g. "1h". Default "1h". */
  readonly x509SvidTtl?: string;
  /** CA lifetime (`ca_ttl`). Must be longer than the SVID TTL. Default "24h". */
  readonly caTtl?: string;
  /** CA key type. Default "rsa-2048", as the walkthrough. */
  readonly caKeyType?: string;
  /** SPIRE log level. Default "INFO". */
  readonly logLevel?: string;
  /** Size of the server's data volume (sqlite datastore and CA keys; with postgres each replica's key volume). Default "1Gi". */
  readonly storageSize?: string;
  /** Storage class of that volume. Default: the cluster's default class. */
  readonly storageClassName?: string;
  /** Server gRPC port agents connect to. Default 8081. */
  readonly serverPort?: number;
  /** The agent's health port on each node (it runs on the host network). Default 9982. */
  readonly agentHealthPort?: number;
  /** Host directory that holds the agent socket; mounted into meshed pods. Default "/run/spire/sockets". */
  readonly agentSocketDir?: string;
  /**
   * Skip verifying the kubelet's serving certificate in the k8s workload attestor. Default true: the agent talks
   * to the kubelet on 127.0.0.1 over the host network, and kubelet serving certificates (EKS included) are
   * usually self-signed or issued for the node name, so verification against the cluster CA fails.
   */
  readonly skipKubeletVerification?: boolean;
  /** How often the agent syncs entries from the server (`experimental.sync_interval`). Default SPIRE's "5s". */
  readonly agentSyncInterval?: string;
  /** How often the server reloads its entry cache (`experimental.cache_reload_interval`). Default SPIRE's "5s". */
  readonly serverCacheReloadInterval?: string;
  /** Server container requests. Default 100m CPU, 256Mi memory. */
  readonly serverResources?: ResourceSettings;
  /** Agent container requests. Default 50m CPU, 128Mi memory. */
  readonly agentResources?: ResourceSettings;
  /**
   * How meshed pods reach the agent's Workload API socket: `csi` (default) through the SPIFFE CSI driver
   * (csi.spiffe.io), which SpireInstallation installs, so app pods need no hostPath and can run under Pod Security
   * `restricted`; or `hostPath` (the walkthrough's way, and what App Mesh's injector mounts).
   */
  readonly workloadApi?: WorkloadApi;
  /** SPIFFE CSI driver image. Default ghcr.io/spiffe/spiffe-csi-driver:0.2.12. */
  readonly csiDriverImage?: string;
  /** Tolerations of the agent and CSI driver DaemonSets. Default: every taint, so every node gets an agent. */
  readonly agentTolerations?: readonly Toleration[];
  /** The CSI node-driver-registrar image. Default registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.15.0. */
  readonly csiRegistrarImage?: string;
  /**
   * Protect the server's data volume (CA keys and the sqlite datastore) from deletion and replacement: `pulumi
   * destroy` and a storage-class change then stop with an error until it is unprotected. Default true.
   */
  readonly protectData?: boolean;
  /**
   * SPIFFE federation with other trust domains (other clusters): this server's bundle endpoint and the domains
   * it federates with. See README "Multi-cluster".
   */
  readonly federation?: FederationArgs;
}

export type WorkloadApi = "csi" | "hostPath";

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

const caKeyTypes = ["rsa-2048", "rsa-4096", "ec-p256", "ec-p384"];
const logLevels = ["DEBUG", "INFO", "WARN", "ERROR"];
const imageRef =
  /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const hostAndImage = /^([a-zA-Z0-9.-]+(:\d+)?\/)?(.+)$/;

export const isImageRef = (s: unknown): boolean => {
  if (typeof s !== "string") return false;
  const match = hostAndImage.exec(s);
  return match !== null && imageRef.test(match[3]);
};

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
    const given = installOnly.filter((k) => input[k] !== undefined);
    if (given.length > 0) {
      c.fail(
        "existing",
        Object.keys(input.existing),
        `conflicts with install-only arguments ${given.join(", ")}`,
      );
    }
    const e = input.existing;
    c.check(
      isDnsLabel(e.namespace),
      "existing.namespace",
      e.namespace,
      "must be a Kubernetes namespace name",
    );
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
    c.done();
    return {
      ...defaults(trustDomain as string, clusterName),
      mode: "existing",
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

  const base = defaults(trustDomain as string, clusterName);
  const namespace = input.namespace ?? base.namespace;
  c.check(
    isDnsLabel(namespace),
    "namespace",
    namespace,
    "must be a Kubernetes namespace name (RFC 1123 label)",
  );
  const serverImage = input.serverImage ?? base.serverImage;
  c.check(
    isImageRef(serverImage),
    "serverImage",
    serverImage,
    "must be an image reference such as repo/name:tag",
  );
  const agentImage = input.agentImage ?? base.agentImage;
  c.check(
    isImageRef(agentImage),
    "agentImage",
    agentImage,
    "must be an image reference such as repo/name:tag",
  );
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
  const agentHealthPort = input.agentHealthPort ?? base.agentHealthPort;
  c.check(isPort(agentHealthPort), "agentHealthPort", agentHealthPort, "must be an integer port in 1-65535");
  const agentTolerations = input.agentTolerations ?? base.agentTolerations;
  checkTolerations(c, "agentTolerations", agentTolerations);
  const agentSocketDir = input.agentSocketDir ?? base.agentSocketDir;
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
    c.check(isImageRef(image), field, image, "must be an image reference such as repo/name:tag");
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
