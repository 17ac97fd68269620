/**
 * An ingress gateway as Kubernetes objects, on either data plane. envoy: a Deployment running Envoy alone (the
 * pod's only container, named `envoy`) from its bootstrap ConfigMap and a Service. appmesh: a VirtualGateway and
 * its GatewayRoutes, and the Deployment whose `envoy` container the App Mesh controller configures. Both: its
 * own ServiceAccount, a NetworkPolicy in both directions, and the registration entry's selectors. Pure.
 */
import type { EntrySpec } from "../spire/entries";
import type { K8sObject } from "../spire/k8s";
import { workloadSelectors } from "../spire/registrations";
import { envoyPorts } from "./envoyBootstrap";
import {
  bootstrapConfigMap,
  DataPlane,
  ENVOY_DRAIN_SECONDS,
  envoyContainer,
  envoyVolumes,
} from "./envoySidecar";
import { type GatewayArgs, type GatewaySpec, gatewaySpec } from "./gateway";
import { gatewayBootstrap } from "./gatewayBootstrap";
import { EDGE_TLS_DIR } from "./gatewayListener";
import { meshedPodPolicy, openPortsOf, proxyEgress } from "./networkPolicy";
import { validation } from "./virtualNode";

/** On the GatewayRoutes, and what its VirtualGateway selects them by: two gateways never share a route. */
export const GATEWAY_ROUTE_LABEL = "spire-mesh.io/gateway";
const APPMESH = "appmesh.k8s.aws/v1beta2";

export interface GatewayObjects {
  readonly serviceAccount: K8sObject;
  readonly deployment: K8sObject;
  readonly service: K8sObject;
  readonly networkPolicy: K8sObject;
  /** envoy only. */
  readonly configMap?: K8sObject;
  /** appmesh only. */
  readonly virtualGateway?: K8sObject;
  readonly gatewayRoutes: readonly K8sObject[];
}

export interface GatewayPlan {
  readonly spec: GatewaySpec;
  /** envoy only. */
  readonly bootstrap?: Record<string, unknown>;
  readonly objects: GatewayObjects;
}

export function gatewayPlan(args: GatewayArgs): GatewayPlan {
  const spec = gatewaySpec(args);
  if (spec.dataPlane === DataPlane.AppMesh) return { spec, objects: appMeshObjects(spec) };
  const bootstrap = gatewayBootstrap(spec);
  return { spec, bootstrap, objects: envoyObjects(spec, bootstrap) };
}

/** The entry that gives the gateway's Envoy its identity: namespace, account, its pods' labels, `envoy`. */
export function gatewayEntry(g: GatewaySpec, parentId: string, x509SvidTtl?: string): EntrySpec {
  return {
    spiffeId: g.identity,
    parentId,
    selectors: workloadSelectors(g.namespace, g.serviceAccount, g.podLabels),
    ...(x509SvidTtl ? { x509SvidTtl } : {}),
  };
}

const edgeVolume = (g: GatewaySpec) =>
  g.listener.edgeTlsSecret ? [{ name: "edge-tls", secret: { secretName: g.listener.edgeTlsSecret } }] : [];
const edgeMount = (g: GatewaySpec) =>
  g.listener.edgeTlsSecret ? [{ name: "edge-tls", mountPath: EDGE_TLS_DIR }] : [];

/**
 * The entry point of the mesh: its listener admits anyone (it is the edge), as does envoy's readiness port; out,
 * only DNS and the pods behind its routes.
 */
function gatewayNetworkPolicy(g: GatewaySpec): K8sObject {
  const targets = g.backends.flatMap((b) => b.routes.map((r) => r.target));
  return meshedPodPolicy({
    name: g.name,
    namespace: g.namespace,
    podLabels: g.podLabels,
    meshPort: g.listener.port,
    openPorts: openPortsOf(g.dataPlane),
    egress: proxyEgress(
      g.dataPlane,
      targets.map((t) => ({ pods: { namespace: t.namespace, podLabels: t.podSelector }, port: t.port })),
    ),
  });
}

function common(g: GatewaySpec, pod: Record<string, unknown>, podAnnotations?: Record<string, string>) {
  const labels = { ...g.podLabels };
  return {
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: g.serviceAccount, namespace: g.namespace },
      automountServiceAccountToken: false,
    },
    deployment: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: g.name, namespace: g.namespace, labels },
      spec: {
        replicas: g.replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, ...(podAnnotations ? { annotations: podAnnotations } : {}) },
          spec: {
            serviceAccountName: g.serviceAccount,
            automountServiceAccountToken: false,
            // Envoy's drain sleep, then time to stop: 30s (Kubernetes' default) at 5s.
            terminationGracePeriodSeconds: ENVOY_DRAIN_SECONDS + 25,
            ...pod,
          },
        },
      },
    },
    networkPolicy: gatewayNetworkPolicy(g),
    service: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: g.name, namespace: g.namespace },
      spec: {
        type: g.serviceType,
        ports: [{ name: "http", port: g.listener.port, targetPort: g.listener.port, protocol: "TCP" }],
        selector: labels,
      },
    },
  } satisfies Record<string, K8sObject>;
}

function envoyObjects(g: GatewaySpec, bootstrap: Record<string, unknown>): GatewayObjects {
  const { configMap, annotations } = bootstrapConfigMap(g.name, g.namespace, bootstrap);
  const pod = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    containers: [
      envoyContainer({
        image: g.envoyImage,
        sdsSocketPath: g.sdsSocketPath,
        ports: [
          { name: "gateway", containerPort: g.listener.port },
          { name: "ready", containerPort: envoyPorts.readiness },
        ],
        extraMounts: edgeMount(g),
      }),
    ],
    volumes: [...envoyVolumes(configMap.metadata.name, g.sdsSocketPath, g.workloadApi), ...edgeVolume(g)],
  };
  return {
    ...common(g, pod, annotations),
    configMap,
    gatewayRoutes: [],
  };
}

function listenerTls(g: GatewaySpec) {
  const l = g.listener;
  if (l.tlsMode === undefined) return {};
  const certificate = l.edgeTlsSecret
    ? { file: { certificateChain: `${EDGE_TLS_DIR}/tls.crt`, privateKey: `${EDGE_TLS_DIR}/tls.key` } }
    : { sds: { secretName: g.identity } };
  return {
    tls: {
      mode: l.tlsMode,
      certificate,
      // Edge clients present no certificate: no validation. Otherwise the bundle, and STRICT's exact callers.
      ...(l.edgeTlsSecret ? {} : { validation: validation(g.trustDomainId, l.callers) }),
    },
  };
}

function appMeshObjects(g: GatewaySpec): GatewayObjects {
  const pod = {
    containers: [
      {
        // The controller configures the container of this name (image, App Mesh env, SDS socket mount).
        name: "envoy",
        image: g.envoyImage,
        ports: [{ name: "gateway", containerPort: g.listener.port, protocol: "TCP" }],
        resources: {
          requests: { cpu: "50m", memory: "64Mi" },
          limits: { cpu: "500m", memory: "256Mi" },
        },
        // App Mesh's Envoy image writes its bootstrap at start, so the root filesystem stays writable.
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        ...(g.listener.edgeTlsSecret
          ? { volumeMounts: edgeMount(g).map((m) => ({ ...m, readOnly: true })) }
          : {}),
      },
    ],
    ...(g.listener.edgeTlsSecret ? { volumes: edgeVolume(g) } : {}),
  };
  const routeLabels = { [GATEWAY_ROUTE_LABEL]: g.name };
  return {
    ...common(g, pod),
    virtualGateway: {
      apiVersion: APPMESH,
      kind: "VirtualGateway",
      metadata: { name: g.name, namespace: g.namespace },
      spec: {
        // Its GatewayRoutes live in its own namespace; without a namespace selector it would accept none.
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": g.namespace } },
        gatewayRouteSelector: { matchLabels: routeLabels },
        podSelector: { matchLabels: { ...g.podLabels } },
        listeners: [{ portMapping: { port: g.listener.port, protocol: "http" }, ...listenerTls(g) }],
        backendDefaults: {
          clientPolicy: {
            // VirtualGatewayClientPolicyTLS has no `mode` (the walkthrough's slip on VirtualNode): enforce it.
            tls: {
              enforce: true,
              certificate: { sds: { secretName: g.identity } },
              validation: validation(g.trustDomainId, g.allowedServers),
            },
          },
        },
      },
    },
    gatewayRoutes: g.routes.map((r) => ({
      apiVersion: APPMESH,
      kind: "GatewayRoute",
      metadata: { name: r.name, namespace: g.namespace, labels: routeLabels },
      spec: {
        priority: r.priority,
        // The matched prefix becomes "/" and the host the virtual service's name: App Mesh's defaults.
        httpRoute: {
          match: {
            prefix: r.prefix,
            ...(r.header ? { headers: [{ name: r.header.name, match: { exact: r.header.value } }] } : {}),
          },
          action: { target: { virtualService: { virtualServiceRef: { name: r.virtualService } } } },
        },
      },
    })),
  };
}
