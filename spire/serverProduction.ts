/**
 * What the production settings add to the server's and agent's pods: the datastore Secret and the environment
 * variable that carries it, the upstream CA's Secret volume, Prometheus ports and scrape annotations, and, with
 * several replicas, a disruption budget and a spread across nodes (or zones).
 */
import { DATASTORE_ENV, podPaths } from "./config";
import type { K8sObject } from "./k8s";
import { DATASTORE_CA_DIR, DATASTORE_CA_KEY } from "./production";
import type { SpireSettings } from "./settings";

/** The key of the datastore Secret that holds the connection string. */
export const DATASTORE_SECRET_KEY = "connection-string";
export const datastoreSecretName = (s: SpireSettings): string => `${s.serverName}-datastore`;

/** The conventional Prometheus annotations most scrape configs (and the Prometheus chart) discover pods by. */
export const scrapeAnnotations = (port: number): Record<string, string> => ({
  "prometheus.io/scrape": "true",
  "prometheus.io/port": String(port),
  "prometheus.io/path": "/metrics",
});

export const metricsPort = (port: number) => ({ name: "metrics", containerPort: port, protocol: "TCP" });

/** The Secret the connection string goes into; the component fills `stringData` with the secret Input. */
export function datastoreSecret(s: SpireSettings): K8sObject | undefined {
  if (s.datastore.type !== "postgres") return undefined;
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: datastoreSecretName(s), namespace: s.namespace, labels: { app: s.serverName } },
    type: "Opaque",
    stringData: { [DATASTORE_SECRET_KEY]: s.datastore.connectionString },
  };
}

export const datastoreCaConfigMapName = (s: SpireSettings): string => `${s.serverName}-datastore-ca`;

/** The database's CA bundle (public certificates): what `sslrootcert=` verifies the server against. */
export function datastoreCaConfigMap(s: SpireSettings): K8sObject | undefined {
  if (s.datastore.type !== "postgres" || s.datastore.caBundle === undefined) return undefined;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: datastoreCaConfigMapName(s), namespace: s.namespace, labels: { app: s.serverName } },
    data: { [DATASTORE_CA_KEY]: s.datastore.caBundle },
  };
}

const REPLICA_CLAIM_TEMPLATE = "spire-data";

const claimSpec = (s: SpireSettings) => ({
  accessModes: ["ReadWriteOnce"],
  ...(s.storageClassName ? { storageClassName: s.storageClassName } : {}),
  resources: { requests: { storage: s.storageSize } },
});

/**
 * postgres: one claim per replica, named as the StatefulSet's template names them (`spire-data-<server>-<i>`).
 * Owned by Pulumi rather than the controller: replacing the StatefulSet keeps every CA key (deleting them all
 * at once would leave agents with no root they trust), scaling down removes the extra replica's claim, and
 * destroy removes them all, before the storage driver goes, so no volume holding a CA key outlives the stack.
 */
export function replicaClaims(s: SpireSettings): K8sObject[] {
  if (s.datastore.type !== "postgres") return [];
  return Array.from({ length: s.replicas }, (_, i) => ({
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: {
      name: `${REPLICA_CLAIM_TEMPLATE}-${s.serverName}-${i}`,
      namespace: s.namespace,
      labels: { app: s.serverName },
    },
    spec: claimSpec(s),
  }));
}

/** Voluntary evictions (node drains, upgrades) take one server at a time; the others keep serving. */
export function serverDisruptionBudget(s: SpireSettings): K8sObject | undefined {
  if (s.replicas < 2) return undefined;
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: s.serverName, namespace: s.namespace, labels: { app: s.serverName } },
    spec: { maxUnavailable: 1, selector: { matchLabels: { app: s.serverName } } },
  };
}

/** The server pod's additions for the production settings; empty for the default single sqlite server. */
export function serverPodAdditions(s: SpireSettings) {
  const postgres = s.datastore.type === "postgres";
  const disk = s.upstreamAuthority.type === "disk" ? s.upstreamAuthority : undefined;
  const databaseCa = s.datastore.type === "postgres" && s.datastore.caBundle !== undefined;
  const labels = { app: s.serverName };
  const spread = (topologyKey: string) => ({
    maxSkew: 1,
    topologyKey,
    // Two servers on one node (or zone) are one failure away from none: leave a replica Pending instead.
    whenUnsatisfiable: "DoNotSchedule",
    labelSelector: { matchLabels: labels },
  });
  return {
    // -expandEnv substitutes the connection string from the environment into server.conf before it is parsed.
    args: postgres ? ["-expandEnv"] : [],
    env: postgres
      ? [
          {
            name: DATASTORE_ENV,
            valueFrom: { secretKeyRef: { name: datastoreSecretName(s), key: DATASTORE_SECRET_KEY } },
          },
        ]
      : [],
    ports: s.telemetry ? [metricsPort(s.telemetry.serverPort)] : [],
    annotations: s.telemetry ? scrapeAnnotations(s.telemetry.serverPort) : {},
    volumeMounts: [
      ...(disk ? [{ name: "spire-upstream-ca", mountPath: podPaths.upstreamCaDir, readOnly: true }] : []),
      ...(databaseCa ? [{ name: "spire-datastore-ca", mountPath: DATASTORE_CA_DIR, readOnly: true }] : []),
    ],
    volumes: [
      // Owner-only read would lock out the server (uid 1000): the files are root's, readable by fsGroup 1000.
      ...(disk
        ? [{ name: "spire-upstream-ca", secret: { secretName: disk.secretName, defaultMode: 0o440 } }]
        : []),
      ...(databaseCa
        ? [
            {
              name: "spire-datastore-ca",
              configMap: { name: datastoreCaConfigMapName(s), defaultMode: 0o444 },
            },
          ]
        : []),
    ],
    spec: {
      ...(s.replicas > 1
        ? {
            topologySpreadConstraints: [
              spread("kubernetes.io/hostname"),
              ...(s.spreadAcross === "zones" ? [spread("topology.kubernetes.io/zone")] : []),
            ],
          }
        : {}),
    },
    statefulSet: postgres
      ? {
          // Two servers starting together on an empty database race SPIRE's schema migration and one dies with a
          // duplicate-key error (SPIRE takes no lock). OrderedReady starts each replica only once the previous one
          // is Ready, i.e. has migrated: the first start is serialised.
          podManagementPolicy: "OrderedReady",
          // Each replica's own CA key, kept across restarts, reschedules and StatefulSet replacements: the
          // component creates each claim itself (replicaClaims) under the name the template gives it, so the
          // controller adopts it, never deletes it, and `pulumi destroy` does.
          volumeClaimTemplates: [{ metadata: { name: REPLICA_CLAIM_TEMPLATE, labels }, spec: claimSpec(s) }],
          persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        }
      : {},
  };
}
