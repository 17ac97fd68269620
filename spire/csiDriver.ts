/**
 * The SPIFFE CSI driver (csi.spiffe.io, spiffe/spiffe-csi): a node plugin that bind-mounts the agent's socket
 * directory into any pod that asks for an inline `csi` volume, so meshed pods need no hostPath and can run under
 * Pod Security `restricted`. Its own DaemonSet is the price: privileged (Bidirectional mount propagation into
 * the kubelet's pod directory) with hostPath volumes, in the SPIRE namespace next to the agent.
 */
import type { K8sObject } from "./k8s";
import type { SpireSettings } from "./settings";

export const CSI_DRIVER_NAME = "spiffe-csi-driver";
/**
 * The driver name the SPIFFE project's own charts register: the default for what does not know its
 * installation (a bare MtlsVirtualNode or gateway, an adopted SPIRE). SpireInstallation registers its own,
 * `<namespace>.csi.spiffe.io`, so two installations never share one.
 */
export const SPIFFE_CSI_DRIVER = "csi.spiffe.io";
const KUBELET_DIR = "/var/lib/kubelet";

export interface CsiDriverManifests {
  readonly csiDriver: K8sObject;
  readonly serviceAccount: K8sObject;
  readonly daemonSet: K8sObject;
}

/** The volume a meshed pod mounts to reach the Workload API through the driver (it must be read-only). */
export const csiWorkloadApiVolume = (name: string, driver: string) => ({
  name,
  csi: { driver, readOnly: true },
});

export function csiDriverManifests(s: SpireSettings): CsiDriverManifests {
  const labels = { app: CSI_DRIVER_NAME };
  const pluginDir = `${KUBELET_DIR}/plugins/${s.csiDriverName}`;
  return {
    csiDriver: {
      apiVersion: "storage.k8s.io/v1",
      kind: "CSIDriver",
      metadata: { name: s.csiDriverName },
      // Ephemeral inline volumes only; the driver reads the pod's identity from the mount request.
      spec: {
        attachRequired: false,
        podInfoOnMount: true,
        fsGroupPolicy: "None",
        volumeLifecycleModes: ["Ephemeral"],
      },
    },
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: CSI_DRIVER_NAME, namespace: s.namespace },
      automountServiceAccountToken: false,
    },
    daemonSet: {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: CSI_DRIVER_NAME, namespace: s.namespace, labels },
      spec: {
        selector: { matchLabels: labels },
        updateStrategy: { type: "RollingUpdate" },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: CSI_DRIVER_NAME,
            automountServiceAccountToken: false,
            priorityClassName: "system-node-critical",
            // Wherever an agent runs, its pods need the driver to mount the socket.
            tolerations: s.agentTolerations.map((t) => ({ ...t })),
            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
            containers: [
              {
                name: CSI_DRIVER_NAME,
                image: s.csiDriverImage,
                args: [
                  "-workload-api-socket-dir",
                  "/spire-agent-socket",
                  "-csi-socket-path",
                  "/spiffe-csi/csi.sock",
                  "-plugin-name",
                  s.csiDriverName,
                ],
                env: [{ name: "MY_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } }],
                resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
                // Privileged only because Bidirectional mount propagation requires it.
                securityContext: {
                  privileged: true,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                volumeMounts: [
                  { name: "spire-agent-socket-dir", mountPath: "/spire-agent-socket", readOnly: true },
                  { name: "spiffe-csi-socket-dir", mountPath: "/spiffe-csi" },
                  {
                    name: "mountpoint-dir",
                    mountPath: `${KUBELET_DIR}/pods`,
                    mountPropagation: "Bidirectional",
                  },
                ],
              },
              {
                name: "node-driver-registrar",
                image: s.csiRegistrarImage,
                args: [
                  "-csi-address",
                  "/spiffe-csi/csi.sock",
                  "-kubelet-registration-path",
                  `${pluginDir}/csi.sock`,
                ],
                resources: { requests: { cpu: "5m", memory: "16Mi" }, limits: { memory: "32Mi" } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                volumeMounts: [
                  { name: "spiffe-csi-socket-dir", mountPath: "/spiffe-csi" },
                  { name: "kubelet-plugin-registration-dir", mountPath: "/registration" },
                ],
              },
            ],
            volumes: [
              // The agent's socket directory, which its DaemonSet creates on every node.
              {
                name: "spire-agent-socket-dir",
                hostPath: { path: s.agentSocketDir, type: "DirectoryOrCreate" },
              },
              { name: "spiffe-csi-socket-dir", hostPath: { path: pluginDir, type: "DirectoryOrCreate" } },
              { name: "mountpoint-dir", hostPath: { path: `${KUBELET_DIR}/pods`, type: "Directory" } },
              {
                name: "kubelet-plugin-registration-dir",
                hostPath: { path: `${KUBELET_DIR}/plugins_registry`, type: "Directory" },
              },
            ],
          },
        },
      },
    },
  };
}
