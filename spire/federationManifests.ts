/**
 * The Kubernetes side of a federated installation: the server pod's bundle endpoint port (and https_web
 * certificate), and the Service that exposes the endpoint to the other cluster. Pure: no Pulumi.
 */
import { BUNDLE_CERT_DIR } from "./federation";
import type { K8sObject } from "./k8s";
import type { SpireSettings } from "./settings";

const BUNDLE_PORT_NAME = "federation";

/** What the server pod gains for federation; empty without it. */
export function federationPodAdditions(s: SpireSettings) {
  const e = s.federation?.bundleEndpoint;
  if (!e) return { ports: [], volumeMounts: [], volumes: [] };
  const web = e.profile === "https_web";
  return {
    ports: [{ name: BUNDLE_PORT_NAME, containerPort: e.port, protocol: "TCP" }],
    volumeMounts: web
      ? [{ name: "spire-bundle-endpoint-cert", mountPath: BUNDLE_CERT_DIR, readOnly: true }]
      : [],
    // Readable by fsGroup 1000 (the server's), as the upstream CA's Secret.
    volumes: web
      ? [
          {
            name: "spire-bundle-endpoint-cert",
            secret: { secretName: e.servingCertSecret, defaultMode: 0o440 },
          },
        ]
      : [],
  };
}

/** The Service name peers' bundle endpoint URLs point at (through a load balancer or node port). */
export const bundleEndpointServiceName = (s: SpireSettings) => `${s.serverName}-bundle-endpoint`;

/** The Service in front of the bundle endpoint, of the configured type; undefined without federation. */
export function bundleEndpointService(s: SpireSettings): K8sObject | undefined {
  const e = s.federation?.bundleEndpoint;
  if (!e) return undefined;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: bundleEndpointServiceName(s),
      namespace: s.namespace,
      labels: { app: s.serverName },
      ...(Object.keys(e.serviceAnnotations).length > 0 ? { annotations: { ...e.serviceAnnotations } } : {}),
    },
    spec: {
      type: e.serviceType,
      selector: { app: s.serverName },
      ports: [{ name: BUNDLE_PORT_NAME, port: e.port, targetPort: BUNDLE_PORT_NAME, protocol: "TCP" }],
    },
  };
}

/**
 * The URL peers configure as this domain's `bundle_endpoint_url`: the advertised host when given, else the
 * load balancer's address (`lbHost`, known once it has one), else the Service's in-cluster name (reachable
 * from this cluster only: set advertisedHost or use a LoadBalancer for another cluster).
 */
export function bundleEndpointUrl(s: SpireSettings, lbHost?: string): string | undefined {
  const e = s.federation?.bundleEndpoint;
  if (!e) return undefined;
  const host = e.advertisedHost ?? (lbHost || `${bundleEndpointServiceName(s)}.${s.namespace}.svc`);
  return `https://${host}:${e.port}`;
}
