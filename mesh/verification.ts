/**
 * The walkthrough's verification steps (Steps 4-6) as ready-to-run commands for this stack's names. They address
 * `deploy/<name>` so no pod name has to be looked up first; the FRONT_POD-style lookups are given too. App Mesh's
 * Envoy image has curl and its admin port is reachable inside the pod. On the envoy data plane the admin
 * interface is a Unix socket only the Envoy container mounts and only Envoy's uid may open, and the upstream
 * Envoy image has no curl: the same paths are read inside that container with the image's perl (adminReaderArgv).
 */
import type { Workload } from "./colorApp";
import { ENVOY_ADMIN } from "./envoyBootstrap";
import { APPMESH_ADMIN_PORT, DataPlane } from "./envoySidecar";

/**
 * GET one admin path over the admin socket and print the body, chunked transfer decoded (Envoy streams admin
 * answers); exits 1 unless the answer is 200. Perl because envoyproxy/envoy (Ubuntu) ships perl-base, which is
 * Essential there and holds IO::Socket::UNIX, but no curl, and `kubectl exec -c envoy` runs as Envoy's uid: the
 * one the socket's mode admits.
 */
const ADMIN_READER = String.raw`
  my ($socket, $path) = @ARGV;
  my $s = IO::Socket::UNIX->new(Peer => $socket) or die "$socket: $!\n";
  print $s "GET $path HTTP/1.1\r\nHost: envoy\r\nConnection: close\r\n\r\n";
  local $/; my $answer = <$s> // q{}; my ($head, $body) = split /\r\n\r\n/, $answer, 2; $body //= q{};
  if ($head =~ /^transfer-encoding:\s*chunked/im) { my $out = q{};
  while ($body =~ s/^([0-9a-fA-F]+)[^\n]*\n// and my $n = hex $1) {
  $out .= substr($body, 0, $n, q{}); $body =~ s/^\r\n//; } $body = $out; }
  print $body; exit($head =~ m{^HTTP/1\.[01] 200 } ? 0 : 1);`
  .trim()
  .split(/\s*\n\s*/)
  .join(" ");

/** The argv that reads `adminPath` from the admin socket at `socket` (ENVOY_ADMIN.socket in the pod). */
export const adminReaderArgv = (socket: string, adminPath: string) => [
  "perl",
  "-MIO::Socket::UNIX",
  "-e",
  ADMIN_READER,
  socket,
  adminPath,
];

export interface VerificationInput {
  readonly namespace: string;
  readonly front: Workload;
  readonly colors: readonly Workload[];
  readonly frontHost: string;
  readonly routeHeader: string;
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
/** One shell word: as is when it needs no quoting, else single-quoted. */
const word = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : q(s));

export function verificationCommands(v: VerificationInput): VerificationCommands {
  const admin = (w: Workload, path: string) =>
    `kubectl exec -n ${v.namespace} deploy/${w.name} -c envoy -- ` +
    (v.dataPlane === DataPlane.AppMesh
      ? `curl -s http://localhost:${APPMESH_ADMIN_PORT}${path}`
      : adminReaderArgv(ENVOY_ADMIN.socket, path).map(word).join(" "));
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
