/**
 * What the production settings add to the server's and agent's pods: the datastore Secret and the environment
 * variable that carries it, the upstream CA's Secret volume, Prometheus ports and scrape annotations, and, with
 * several replicas, a disruption budget and a spread across nodes (or zones).
 */
import { DATASTORE_ENV, podPaths } from "./config";
import type { K8sObject } from "./k8s";
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
    volumeMounts: disk
      ? [{ name: "spire-upstream-ca", mountPath: podPaths.upstreamCaDir, readOnly: true }]
      : [],
    // Owner-only read would lock out the server (uid 1000): the files are root's, readable by fsGroup 1000.
    volumes: disk
      ? [{ name: "spire-upstream-ca", secret: { secretName: disk.secretName, defaultMode: 0o440 } }]
      : [],
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
          // Each replica's own CA key, kept across restarts and reschedules: the claims outlive the StatefulSet
          // (retained on delete and scale-down) and a replica finds its own again by name.
          volumeClaimTemplates: [
            {
              metadata: { name: "spire-data", labels },
              spec: {
                accessModes: ["ReadWriteOnce"],
                ...(s.storageClassName ? { storageClassName: s.storageClassName } : {}),
                resources: { requests: { storage: s.storageSize } },
              },
            },
          ],
        }
      : {},
  };
}
