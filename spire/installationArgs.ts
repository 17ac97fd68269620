/**
 * SpireInstallation's arguments as a user writes them: install a SPIRE (every field below) or adopt a running
 * one (`existing`). Types only; settings.ts applies the defaults and checks them, existingSpire.ts the adopted
 * branch. A leaf module, so both can name these types without importing each other.
 */
import type { FederationArgs } from "./federation";
import type { ProductionArgs } from "./production";
import type { Toleration } from "./tolerations";

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
  /**
   * How pods reach its agents' socket: `csi` (default) through a SPIFFE CSI driver, so meshed pods need no
   * hostPath and can run under Pod Security `restricted`; or `hostPath`.
   */
  readonly workloadApi?: WorkloadApi;
  /** csi: the driver's name. Default csi.spiffe.io (the name the SPIFFE project's charts register). */
  readonly csiDriverName?: string;
  /**
   * The cluster's Kubernetes version, e.g. "1.33" (`kubectl version`'s Server Version). Required: meshed pods
   * run Envoy as a native sidecar (an init container with restartPolicy Always), which needs 1.29 or later.
   */
  readonly kubernetesVersion: string;
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
  /**
   * Adopt a running SPIRE instead of installing one. Default: none, SpireInstallation installs SPIRE. Conflicts
   * with every install-only argument.
   */
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
  /**
   * The agent's health port on each node (it runs on the host network, and declares it as a hostPort). Default
   * 9982 in namespace spire, otherwise derived from the namespace (hostClaims.ts): two installations on one
   * cluster never share it by default, and if set equal, the second agent stays Pending ("didn't have free ports").
   */
  readonly agentHealthPort?: number;
  /**
   * Host directory that holds the agent socket; mounted into meshed pods (CSI driver or hostPath). Default
   * "/run/spire/sockets" in namespace spire, "/run/spire/ns/<namespace>" otherwise. Must differ from every
   * other installation's on the cluster: an agent on the same directory replaces the other's socket.
   */
  readonly agentSocketDir?: string;
  /**
   * Skip verifying the kubelet's serving certificate in the k8s workload attestor. Default true: the agent talks
   * to the kubelet on 127.0.0.1 over the host network, and kubelet serving certificates (EKS included) are
   * usually self-signed or issued for the node name, so verification against the cluster CA fails.
   */
  readonly skipKubeletVerification?: boolean;
  /**
   * Legacy switch for clusters before Kubernetes 1.33 (or with the KubeletFineGrainedAuthz feature gate off):
   * also grant the agent `get nodes/proxy`, the kubelet's coarse authorization, instead of relying on
   * `get nodes/pods` alone. `nodes/proxy` is not read-only: the kubelet authorizes `/exec`, `/attach` and
   * `/portForward` over websocket as `get` on it, so whoever holds an agent's token can exec into any pod of
   * any node, the SPIRE server's included. Default false.
   */
  readonly legacyNodesProxyGrant?: boolean;
  /** How often the agent syncs entries from the server (`experimental.sync_interval`). Default SPIRE's "5s". */
  readonly agentSyncInterval?: string;
  /** How often the server reloads its entry cache (`experimental.cache_reload_interval`). Default SPIRE's "5s". */
  readonly serverCacheReloadInterval?: string;
  /** Server container requests. Default 100m CPU, 256Mi memory. */
  readonly serverResources?: ResourceSettings;
  /** Agent container requests. Default 50m CPU, 128Mi memory. */
  readonly agentResources?: ResourceSettings;
  /**
   * How meshed pods reach the agent's Workload API socket: `csi` through the SPIFFE CSI driver (csi.spiffe.io),
   * which SpireInstallation installs, so app pods need no hostPath and can run under Pod Security `restricted`;
   * or `hostPath` (the walkthrough's way, and what App Mesh's injector mounts). Default: csi.
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
   * it federates with. See README "Multi-cluster". Default: none, one trust domain alone.
   */
  readonly federation?: FederationArgs;
}

export type WorkloadApi = "csi" | "hostPath";
