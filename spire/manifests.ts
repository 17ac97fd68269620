/**
 * The Kubernetes objects of a SPIRE 1.13 install: the walkthrough's spire_setup.yaml brought up to date
 * (k8s_psat with a projected token, health probes, security contexts, ClusterIP instead of NodePort), hardened:
 * the server passes Pod Security `restricted`, its data volume is a claim of its own, only the agent (and the
 * CSI driver, csiDriver.ts) needs host access, and NetworkPolicies deny by default and open only the server's ports.
 */
import {
  kubernetesAgentPlatform,
  kubernetesServerPlatform,
  NODE_IP_ENV,
  podPaths,
  renderAgentConf,
  renderServerConf,
} from "./config";
import { bundleEndpointService, federationPodAdditions } from "./federationManifests";
import {
  CONFIG_HASH_ANNOTATION,
  contentHash,
  contentName,
  type K8sObject,
  restrictedContainerSecurity,
} from "./k8s";
import { defaultDenyPolicy, spireServerNetworkPolicy } from "./networkPolicy";
import {
  datastoreCaConfigMap,
  datastoreSecret,
  metricsPort,
  replicaClaims,
  scrapeAnnotations,
  serverDisruptionBudget,
  serverPodAdditions,
} from "./serverProduction";
import type { SpireSettings } from "./settings";

export interface SpireManifests {
  readonly namespace: K8sObject;
  /** The sqlite datastore's and CA key's claim; none with postgres (a key claim per replica from the StatefulSet). */
  readonly serverData?: K8sObject;
  /** postgres: each replica's CA key claim, named as the StatefulSet's template names it. */
  readonly replicaClaims: readonly K8sObject[];
  /** postgres: the Secret that carries the connection string (filled by the component). */
  readonly datastoreSecret?: K8sObject;
  /** postgres with a caBundle: the database's CA certificates, for sslmode=verify-full. */
  readonly datastoreCaConfigMap?: K8sObject;
  /** Several replicas: one voluntary eviction at a time. */
  readonly serverDisruptionBudget?: K8sObject;
  readonly serverNetworkPolicy: K8sObject;
  readonly defaultDeny: K8sObject;
  readonly serverServiceAccount: K8sObject;
  readonly agentServiceAccount: K8sObject;
  readonly serverBundleRole: K8sObject;
  readonly serverBundleRoleBinding: K8sObject;
  readonly serverClusterRole: K8sObject;
  readonly serverClusterRoleBinding: K8sObject;
  readonly agentClusterRole: K8sObject;
  readonly agentClusterRoleBinding: K8sObject;
  readonly bundleConfigMap: K8sObject;
  readonly serverConfigMap: K8sObject;
  readonly serverStatefulSet: K8sObject;
  readonly serverService: K8sObject;
  /** Federation: the Service exposing the bundle endpoint to the peers. */
  readonly bundleEndpointService?: K8sObject;
  readonly agentConfigMap: K8sObject;
  readonly agentDaemonSet: K8sObject;
}

const httpProbe = (
  path: string,
  port: string,
  initialDelaySeconds: number,
  periodSeconds: number,
  host?: string,
) => ({
  httpGet: { path, port, ...(host ? { host } : {}) },
  initialDelaySeconds,
  periodSeconds,
  timeoutSeconds: 3,
  failureThreshold: 2,
});

/** Requests as given, and limits at twice the memory (CPU unlimited: throttling SPIRE delays every rotation). */
const limitsOf = (r: { cpu: string; memory: string }) => ({
  requests: { cpu: r.cpu, memory: r.memory },
  limits: { memory: doubleQuantity(r.memory) },
});

function doubleQuantity(q: string): string {
  const m = /^(\d+)(.*)$/.exec(q);
  return m ? `${Number(m[1]) * 2}${m[2]}` : q;
}

export function spireManifests(s: SpireSettings): SpireManifests {
  const ns = s.namespace;
  const serverLabels = { app: s.serverName };
  const agentLabels = { app: s.agentName };
  const serverConf = renderServerConf(s, kubernetesServerPlatform(s));
  const agentConf = renderAgentConf(s, kubernetesAgentPlatform(s));
  const serverConfigMap = contentName(s.serverName, serverConf);
  const agentConfigMap = contentName(s.agentName, agentConf);
  const saSubject = (name: string) => [{ kind: "ServiceAccount", name, namespace: ns }];
  const server = serverPodAdditions(s);
  const federation = federationPodAdditions(s);
  const sqlite = s.datastore.type === "sqlite";

  return {
    namespace: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: ns,
        // Privileged for two workloads only: the agent (hostPID, hostNetwork, the socket directory) and the CSI
        // driver (privileged for mount propagation, hostPath). `warn` and `audit` at restricted name exactly them.
        labels: {
          "pod-security.kubernetes.io/enforce": "privileged",
          "pod-security.kubernetes.io/warn": "restricted",
          "pod-security.kubernetes.io/audit": "restricted",
        },
      },
    },
    // A claim of its own rather than a volumeClaimTemplate: replacing the StatefulSet (any change to its
    // immutable fields) never touches the CA keys and the datastore, and resizing is an in-place edit here.
    serverData: sqlite
      ? {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: `${s.serverName}-data`, namespace: ns, labels: serverLabels },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(s.storageClassName ? { storageClassName: s.storageClassName } : {}),
            resources: { requests: { storage: s.storageSize } },
          },
        }
      : undefined,
    replicaClaims: replicaClaims(s),
    datastoreSecret: datastoreSecret(s),
    datastoreCaConfigMap: datastoreCaConfigMap(s),
    serverDisruptionBudget: serverDisruptionBudget(s),
    // Agents run on the host network, which NetworkPolicy cannot select portably (nor do policies apply to them):
    // the server's ports admit any source; its egress is DNS, the API server, its datastore and federated peers.
    serverNetworkPolicy: spireServerNetworkPolicy(
      s,
      federation.ports.map((p) => p.containerPort),
    ),
    // Our namespace: its other pods (the CSI driver, which talks over Unix sockets only) get no network at all.
    defaultDeny: defaultDenyPolicy(ns),
    serverServiceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: s.serverName, namespace: ns },
    },
    agentServiceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: s.agentName, namespace: ns },
    },
    // The k8sbundle notifier reads and patches the one bundle ConfigMap; nothing else in the namespace.
    serverBundleRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: `${s.serverName}-configmap-role`, namespace: ns },
      rules: [
        {
          apiGroups: [""],
          resources: ["configmaps"],
          resourceNames: [s.bundleConfigMap],
          verbs: ["get", "patch"],
        },
      ],
    },
    serverBundleRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${s.serverName}-configmap-role-binding`, namespace: ns },
      subjects: saSubject(s.serverName),
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: `${s.serverName}-configmap-role`,
      },
    },
    // k8s_psat: review agent tokens, then look up the agent's pod and node for selectors.
    serverClusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: s.clusterRoles.server },
      rules: [
        { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
        { apiGroups: [""], resources: ["pods", "nodes"], verbs: ["get"] },
      ],
    },
    serverClusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${s.clusterRoles.server}-binding` },
      subjects: saSubject(s.serverName),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: s.clusterRoles.server },
    },
    // The agent's only Kubernetes call is the k8s workload attestor's GET /pods on its node's kubelet (k8s_psat
    // reads a token file; the server does the TokenReview and lookups). Fine-grained kubelet authorization
    // (KEP-2862, on by default since 1.33) authorizes it as nodes/pods. nodes/proxy, the kubelet's coarse
    // check, would also authorize exec, attach and port-forward into every pod: only behind the legacy switch.
    agentClusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: s.clusterRoles.agent },
      rules: [
        {
          apiGroups: [""],
          resources: s.legacyNodesProxyGrant ? ["nodes/pods", "nodes/proxy"] : ["nodes/pods"],
          verbs: ["get"],
        },
      ],
    },
    agentClusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${s.clusterRoles.agent}-binding` },
      subjects: saSubject(s.agentName),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: s.clusterRoles.agent },
    },
    // Created empty; the server's k8sbundle notifier fills `bundle.crt`.
    bundleConfigMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: s.bundleConfigMap, namespace: ns },
    },
    serverConfigMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: serverConfigMap, namespace: ns },
      immutable: true,
      data: { "server.conf": serverConf },
    },
    serverStatefulSet: {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: s.serverName, namespace: ns, labels: serverLabels },
      spec: {
        replicas: s.replicas,
        ...server.statefulSet,
        serviceName: s.serverName,
        selector: { matchLabels: serverLabels },
        template: {
          metadata: {
            labels: serverLabels,
            annotations: { [CONFIG_HASH_ANNOTATION]: contentHash(serverConf), ...server.annotations },
          },
          spec: {
            serviceAccountName: s.serverName,
            ...server.spec,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 1000,
              runAsGroup: 1000,
              fsGroup: 1000,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: s.serverContainer,
                image: s.serverImage,
                args: ["-config", `${podPaths.configDir}/server.conf`, ...server.args],
                ...(server.env.length > 0 ? { env: server.env } : {}),
                ports: [
                  { name: "grpc", containerPort: s.serverPort, protocol: "TCP" },
                  { name: "health", containerPort: s.serverHealthPort, protocol: "TCP" },
                  ...server.ports,
                  ...federation.ports,
                ],
                livenessProbe: httpProbe("/live", "health", 15, 60),
                readinessProbe: httpProbe("/ready", "health", 5, 10),
                resources: limitsOf(s.serverResources),
                securityContext: restrictedContainerSecurity,
                volumeMounts: [
                  { name: "spire-config", mountPath: podPaths.configDir, readOnly: true },
                  { name: "spire-data", mountPath: podPaths.serverDataDir },
                  { name: "spire-server-socket", mountPath: podPaths.serverSocketDir },
                  ...server.volumeMounts,
                  ...federation.volumeMounts,
                ],
              },
            ],
            volumes: [
              { name: "spire-config", configMap: { name: serverConfigMap } },
              // postgres: spire-data is each replica's claim from volumeClaimTemplates.
              ...(sqlite
                ? [{ name: "spire-data", persistentVolumeClaim: { claimName: `${s.serverName}-data` } }]
                : []),
              { name: "spire-server-socket", emptyDir: {} },
              ...server.volumes,
              ...federation.volumes,
            ],
          },
        },
      },
    },
    serverService: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: s.serverName, namespace: ns, labels: serverLabels },
      spec: {
        type: "ClusterIP",
        selector: serverLabels,
        ports: [{ name: "grpc", port: s.serverPort, targetPort: "grpc", protocol: "TCP" }],
      },
    },
    bundleEndpointService: bundleEndpointService(s),
    agentConfigMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: agentConfigMap, namespace: ns },
      immutable: true,
      data: { "agent.conf": agentConf },
    },
    agentDaemonSet: {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: s.agentName, namespace: ns, labels: agentLabels },
      spec: {
        selector: { matchLabels: agentLabels },
        updateStrategy: { type: "RollingUpdate" },
        template: {
          metadata: {
            labels: agentLabels,
            annotations: {
              [CONFIG_HASH_ANNOTATION]: contentHash(agentConf),
              ...(s.telemetry ? scrapeAnnotations(s.telemetry.agentPort) : {}),
            },
          },
          spec: {
            serviceAccountName: s.agentName,
            // Every node needs its agent before meshed pods can start there: evicting it last protects them all.
            priorityClassName: "system-node-critical",
            tolerations: s.agentTolerations.map((t) => ({ ...t })),
            hostPID: true,
            hostNetwork: true,
            dnsPolicy: "ClusterFirstWithHostNet",
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: s.agentName,
                image: s.agentImage,
                // Telemetry binds the node's address, which only the environment knows: -expandEnv fills it in.
                args: ["-config", `${podPaths.configDir}/agent.conf`, ...(s.telemetry ? ["-expandEnv"] : [])],
                ...(s.telemetry
                  ? { env: [{ name: NODE_IP_ENV, valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } }] }
                  : {}),
                // Claimed as hostPorts (on the host network they are anyway, and the API server defaults them so on
                // the pods): the scheduler refuses a second installation's agent on a node where one is taken, as a
                // Pending pod with the reason. Declared here so the template shows the claim too.
                ports: [
                  { name: "health", containerPort: s.agentHealthPort, protocol: "TCP" },
                  ...(s.telemetry ? [metricsPort(s.telemetry.agentPort)] : []),
                ].map((p) => ({ ...p, hostPort: p.containerPort })),
                // On the host network the health listener binds loopback only; the kubelet probes it there.
                livenessProbe: httpProbe("/live", "health", 15, 60, "127.0.0.1"),
                readinessProbe: httpProbe("/ready", "health", 5, 10, "127.0.0.1"),
                resources: limitsOf(s.agentResources),
                securityContext: restrictedContainerSecurity,
                volumeMounts: [
                  { name: "spire-config", mountPath: podPaths.configDir, readOnly: true },
                  { name: "spire-bundle", mountPath: podPaths.bundleDir, readOnly: true },
                  { name: "spire-agent-socket", mountPath: s.agentSocketDir },
                  { name: "spire-agent-data", mountPath: podPaths.agentDataDir },
                  { name: "spire-token", mountPath: podPaths.agentTokenDir, readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: "spire-config", configMap: { name: agentConfigMap } },
              { name: "spire-bundle", configMap: { name: s.bundleConfigMap } },
              { name: "spire-agent-socket", hostPath: { path: s.agentSocketDir, type: "DirectoryOrCreate" } },
              { name: "spire-agent-data", emptyDir: {} },
              {
                name: "spire-token",
                projected: {
                  sources: [
                    {
                      serviceAccountToken: {
                        path: podPaths.agentTokenFile,
                        audience: "spire-server",
                        expirationSeconds: 7200,
                      },
                    },
                  ],
                },
              },
            ],
          },
        },
      },
    },
  };
}
