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

/**
 * What makes a LoadBalancer Service internal on EKS (in-tree controller and AWS Load Balancer Controller), GKE
 * and AKS; each cloud ignores the others'. The bundle is public, but an endpoint open to the internet is an
 * attack surface peers in a private network do not need.
 */
export const INTERNAL_LB_ANNOTATIONS: Readonly<Record<string, string>> = {
  "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
  "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
  "networking.gke.io/load-balancer-type": "Internal",
  "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
};

/** The Service in front of the bundle endpoint, of the configured type; undefined without federation. */
export function bundleEndpointService(s: SpireSettings): K8sObject | undefined {
  const e = s.federation?.bundleEndpoint;
  if (!e) return undefined;
  const loadBalancer = e.serviceType === "LoadBalancer";
  const annotations = {
    ...(loadBalancer && !e.internetFacing ? INTERNAL_LB_ANNOTATIONS : {}),
    ...e.serviceAnnotations,
  };
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: bundleEndpointServiceName(s),
      namespace: s.namespace,
      labels: { app: s.serverName },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      type: e.serviceType,
      ...(loadBalancer && e.sourceRanges.length > 0 ? { loadBalancerSourceRanges: [...e.sourceRanges] } : {}),
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
