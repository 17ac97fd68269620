/**
 * The Kubernetes objects of a SPIRE 1.13 install: the walkthrough's spire_setup.yaml brought up to date
 * (k8s_psat with a projected token, health probes, security contexts, ClusterIP instead of NodePort).
 */
import {
  kubernetesAgentPlatform,
  kubernetesServerPlatform,
  podPaths,
  renderAgentConf,
  renderServerConf,
} from "./config";
import {
  CONFIG_HASH_ANNOTATION,
  contentHash,
  contentName,
  type K8sObject,
  restrictedContainerSecurity,
} from "./k8s";
import type { SpireSettings } from "./settings";

export interface SpireManifests {
  readonly namespace: K8sObject;
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
  readonly agentConfigMap: K8sObject;
  readonly agentDaemonSet: K8sObject;
}

const httpProbe = (path: string, port: string, initialDelaySeconds: number, periodSeconds: number) => ({
  httpGet: { path, port },
  initialDelaySeconds,
  periodSeconds,
  timeoutSeconds: 3,
  failureThreshold: 2,
});

export function spireManifests(s: SpireSettings): SpireManifests {
  const ns = s.namespace;
  const serverLabels = { app: s.serverName };
  const agentLabels = { app: s.agentName };
  const serverConf = renderServerConf(s, kubernetesServerPlatform(s));
  const agentConf = renderAgentConf(s, kubernetesAgentPlatform(s));
  const serverConfigMap = contentName(s.serverName, serverConf);
  const agentConfigMap = contentName(s.agentName, agentConf);
  const saSubject = (name: string) => [{ kind: "ServiceAccount", name, namespace: ns }];

  return {
    namespace: {
      apiVersion: "v1",
      kind: "Namespace",
      // The agent needs hostPID, hostNetwork and a hostPath socket directory.
      metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "privileged" } },
    },
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
      metadata: { name: `${s.serverName}-trust-role` },
      rules: [
        { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
        { apiGroups: [""], resources: ["pods", "nodes"], verbs: ["get"] },
      ],
    },
    serverClusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${s.serverName}-trust-role-binding` },
      subjects: saSubject(s.serverName),
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: `${s.serverName}-trust-role`,
      },
    },
    // The k8s workload attestor asks the kubelet for pods; the kubelet authorizes that as nodes/proxy.
    agentClusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: `${s.agentName}-cluster-role` },
      rules: [{ apiGroups: [""], resources: ["pods", "nodes", "nodes/proxy"], verbs: ["get"] }],
    },
    agentClusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: `${s.agentName}-cluster-role-binding` },
      subjects: saSubject(s.agentName),
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: `${s.agentName}-cluster-role`,
      },
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
        replicas: 1,
        serviceName: s.serverName,
        // The data volume goes with the StatefulSet on destroy, so no CA keys or datastore are left behind.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Delete", whenScaled: "Retain" },
        selector: { matchLabels: serverLabels },
        template: {
          metadata: {
            labels: serverLabels,
            annotations: { [CONFIG_HASH_ANNOTATION]: contentHash(serverConf) },
          },
          spec: {
            serviceAccountName: s.serverName,
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
                args: ["-config", `${podPaths.configDir}/server.conf`],
                ports: [
                  { name: "grpc", containerPort: s.serverPort, protocol: "TCP" },
                  { name: "health", containerPort: s.serverHealthPort, protocol: "TCP" },
                ],
                livenessProbe: httpProbe("/live", "health", 15, 60),
                readinessProbe: httpProbe("/ready", "health", 5, 10),
                resources: { requests: { cpu: s.serverResources.cpu, memory: s.serverResources.memory } },
                securityContext: restrictedContainerSecurity,
                volumeMounts: [
                  { name: "spire-config", mountPath: podPaths.configDir, readOnly: true },
                  { name: "spire-data", mountPath: podPaths.serverDataDir },
                  { name: "spire-server-socket", mountPath: podPaths.serverSocketDir },
                ],
              },
            ],
            volumes: [
              { name: "spire-config", configMap: { name: serverConfigMap } },
              { name: "spire-server-socket", emptyDir: {} },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: "spire-data" },
            spec: {
              accessModes: ["ReadWriteOnce"],
              ...(s.storageClassName ? { storageClassName: s.storageClassName } : {}),
              resources: { requests: { storage: s.storageSize } },
            },
          },
        ],
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
            annotations: { [CONFIG_HASH_ANNOTATION]: contentHash(agentConf) },
          },
          spec: {
            serviceAccountName: s.agentName,
            hostPID: true,
            hostNetwork: true,
            dnsPolicy: "ClusterFirstWithHostNet",
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: s.agentName,
                image: s.agentImage,
                args: ["-config", `${podPaths.configDir}/agent.conf`],
                ports: [{ name: "health", containerPort: s.agentHealthPort, protocol: "TCP" }],
                livenessProbe: httpProbe("/live", "health", 15, 60),
                readinessProbe: httpProbe("/ready", "health", 5, 10),
                resources: { requests: { cpu: s.agentResources.cpu, memory: s.agentResources.memory } },
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
