/**
 * The walkthrough's verification steps (Steps 4-6) as ready-to-run commands for this stack's names. They address
 * `deploy/<name>` so no pod name has to be looked up first; the FRONT_POD-style lookups are given too. App Mesh's
 * Envoy image has curl and its admin port is reachable inside the pod; the upstream Envoy image has no curl and
 * our admin listens on loopback only, so on the envoy data plane the same paths are read through a port-forward.
 */
import type { Workload } from "./colorApp";
import { DataPlane } from "./envoySidecar";

export interface VerificationInput {
  readonly namespace: string;
  readonly front: Workload;
  readonly colors: readonly Workload[];
  readonly frontHost: string;
  readonly routeHeader: string;
  /** Envoy admin port inside the pod. */
  readonly adminPort: number;
  /** Image of the throwaway curl pod (the walkthrough's curler). */
  readonly curlImage: string;
  readonly dataPlane: DataPlane;
  /**
   * The ingress gateway, when the stack has one: its workload, `host:port`, route prefix, and whether its
   * listener takes plaintext (a curler can call it) or is STRICT (only its callers' SVIDs get in).
   */
  readonly gateway?: {
    readonly workload: Workload;
    readonly host: string;
    readonly prefix: string;
    readonly plaintext: boolean;
  };
}

export interface VerificationCommands {
  readonly podNames: Record<string, string>;
  readonly sdsClusterHealth: string;
  readonly certs: Record<string, string>;
  readonly clusterHealth: string;
  readonly handshakes: Record<string, string>;
  readonly curl: Record<string, string>;
  readonly registerGreen: string;
  /**
   * Through the gateway, per colour header (a plaintext listener only: a STRICT one admits no curler); and its
   * handshake counters (its upstream mTLS to the colours, and its listener's when STRICT).
   */
  readonly gatewayCurl?: Record<string, string>;
  readonly gatewayHandshakes?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function verificationCommands(v: VerificationInput): VerificationCommands {
  const local = v.adminPort + 10000;
  const admin = (w: Workload, path: string) =>
    v.dataPlane === DataPlane.AppMesh
      ? `kubectl exec -n ${v.namespace} deploy/${w.name} -c envoy -- curl -s http://localhost:${v.adminPort}${path}`
      : `(kubectl port-forward -n ${v.namespace} deploy/${w.name} ${local}:${v.adminPort} >/dev/null & pf=$!; ` +
        `sleep 2; curl -s http://localhost:${local}${path}; kill $pf)`;
  const all = [v.front, ...v.colors];
  // The walkthrough finds front by app=front and each colour by version=<colour>.
  const podLabel = (w: Workload) =>
    w === v.front ? `app=${w.podLabels.app}` : `version=${w.podLabels.version}`;
  const colorNames = v.colors.map((c) => c.name).join("|");
  const curl = (w: Workload, pod: string, url: string) =>
    `kubectl run ${pod} -n default --rm -i --restart=Never --image=${v.curlImage} -- ` +
    `curl -s -H ${q(`${v.routeHeader}: ${w.podLabels.version}`)} ${url}`;
  const g = v.gateway;
  return {
    podNames: Object.fromEntries(
      all.map((w) => [
        w.name,
        `kubectl get pod -n ${v.namespace} -l ${podLabel(w)} -o jsonpath='{.items[0].metadata.name}'`,
      ]),
    ),
    sdsClusterHealth: `${admin(v.front, "/clusters")} | grep -E ${q("(static_cluster_sds.*cx_active|static_cluster_sds.*healthy)")}`,
    certs: Object.fromEntries(all.map((w) => [w.name, admin(w, "/certs")])),
    clusterHealth: `${admin(v.front, "/clusters")} | grep -E ${q(`((${colorNames}).*health_flags)`)}`,
    handshakes: Object.fromEntries(all.map((w) => [w.name, `${admin(w, "/stats")} | grep ssl.handshake`])),
    curl: Object.fromEntries(
      v.colors.map((w) => [w.name, curl(w, `curler-${w.name}`, `http://${v.frontHost}/`)]),
    ),
    registerGreen: "pulumi config set registerGreen true && pulumi up",
    ...(g
      ? {
          ...(g.plaintext
            ? {
                gatewayCurl: Object.fromEntries(
                  v.colors.map((w) => [
                    w.name,
                    curl(w, `curler-gateway-${w.name}`, `http://${g.host}${g.prefix}`),
                  ]),
                ),
              }
            : {}),
          gatewayHandshakes: `${admin(g.workload, "/stats")} | grep ssl.handshake`,
        }
      : {}),
  };
}
