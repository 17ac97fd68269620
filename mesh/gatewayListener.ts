/**
 * An ingress gateway's listener, checked: STRICT mTLS admitting exact SPIFFE callers, STRICT TLS with an edge
 * certificate from a Kubernetes Secret (clients present none), PERMISSIVE, or plaintext; and its edge limits
 * (trusted proxy hops, header and idle timeouts, the connection limit). Pure.
 */
import { type Checker, isDnsSubdomain, isPort } from "../core/validation";
import { checkCallers, checkListenerCallers } from "./callers";
import { envoyPorts } from "./envoyBootstrap";
import { TlsMode } from "./virtualNode";

/** The gateway's listener port unless given: the App Mesh ingress example's. */
export const GATEWAY_PORT = 8088;
/** Where an edge certificate's Secret is mounted in the gateway's Envoy (kubernetes.io/tls keys), beside the bootstrap. */
export const EDGE_TLS_DIR = "/etc/edge-tls";
/** Edge defaults: a slow client gets 10 s for its headers, a silent stream 5 min (Envoy's own default). */
export const EDGE_DEFAULTS = {
  xffNumTrustedHops: 0,
  requestHeadersTimeoutMillis: 10_000,
  streamIdleTimeoutMillis: 300_000,
  // Sized for the gateway container's 256Mi memory limit.
  maxConnections: 1024,
} as const;
/** Envoy's own port in the gateway pod (its admin is a Unix socket); the listener may not use it. */
export const GATEWAY_RESERVED_PORTS = [envoyPorts.readiness];

export interface GatewayListenerArgs {
  /** Default 8088. */
  readonly port?: number;
  /** STRICT or PERMISSIVE; unset is plaintext (an edge whose clients are outside the mesh, like front). */
  readonly tlsMode?: TlsMode;
  /** STRICT for mesh callers: the SPIFFE IDs it admits (exact SAN match), with the gateway's SVID. */
  readonly callers?: readonly string[];
  /**
   * STRICT for edge clients: a kubernetes.io/tls Secret of the namespace (cert-manager issues such) whose
   * certificate the listener presents instead of the SVID; clients present none.
   */
  readonly edgeTlsSecret?: string;
  /**
   * Proxies in front of the gateway whose X-Forwarded-For entries it trusts to name the client (e.g. 1 behind a
   * cloud load balancer that appends the client's address). Default 0: the client is the connection's peer.
   */
  readonly xffNumTrustedHops?: number;
  /** A request whose headers take longer is answered 408 and closed. Default 10000. */
  readonly requestHeadersTimeoutMillis?: number;
  /** A stream with no activity either way for this long is ended (408 before the response). Default 300000. */
  readonly streamIdleTimeoutMillis?: number;
  /** The most client connections Envoy holds open at once; more are closed on accept. Default 1024. */
  readonly maxConnections?: number;
  /** Accept a plaintext (or PERMISSIVE) listener behind a LoadBalancer or NodePort Service. Default false. */
  readonly allowPlaintextExternal?: boolean;
}

/** The checked listener. */
export interface GatewayListener {
  readonly port: number;
  readonly tlsMode?: TlsMode;
  readonly callers: readonly string[];
  readonly edgeTlsSecret?: string;
  readonly xffNumTrustedHops: number;
  readonly requestHeadersTimeoutMillis: number;
  readonly streamIdleTimeoutMillis: number;
  readonly maxConnections: number;
  readonly allowPlaintextExternal: boolean;
}

const isCount = (n: unknown, max: number): n is number =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max;

/** The listener's rules; `prefix` places its fields (e.g. under ColorApp's `gateway`). */
export function checkGatewayListener(
  c: Checker,
  l: GatewayListenerArgs,
  trustDomain: string | undefined,
  prefix = "",
): GatewayListener {
  const at = (field: string) => `${prefix}listener.${field}`;
  const port = l.port ?? GATEWAY_PORT;
  if (c.check(isPort(port), at("port"), port, "must be an integer port in 1-65535")) {
    c.check(
      !GATEWAY_RESERVED_PORTS.includes(port),
      at("port"),
      port,
      `clashes with the gateway Envoy's readiness port (${envoyPorts.readiness})`,
    );
  }
  const mode = l.tlsMode;
  const modes = [TlsMode.Strict, TlsMode.Permissive] as string[];
  if (mode !== undefined) {
    c.check(modes.includes(mode), at("tlsMode"), mode, "must be STRICT, PERMISSIVE or unset (plaintext)");
  }
  const callers = checkCallers(c, l.callers ?? [], { at: (i) => at(`callers[${i}]`), trustDomain }).ids;
  const edge = l.edgeTlsSecret;
  if (edge !== undefined) {
    c.check(
      isDnsSubdomain(edge),
      at("edgeTlsSecret"),
      edge,
      "must be a Secret name (DNS-1123 subdomain: lowercase letters, digits, '-' and '.')",
    );
    c.check(
      mode === TlsMode.Strict,
      at("edgeTlsSecret"),
      edge,
      "needs tlsMode STRICT: edge clients get TLS only, never plaintext",
    );
    c.check(
      callers.length === 0,
      at("callers"),
      callers,
      "conflict with edgeTlsSecret: edge clients present no SVID, so there is no SAN to check",
    );
  }
  // STRICT with an edge certificate takes no callers (checked above); DISABLED is no gateway mode at all.
  if (mode !== TlsMode.Disabled && !(mode === TlsMode.Strict && edge !== undefined)) {
    checkListenerCallers(c, at("callers"), mode, callers, "edgeTlsSecret for clients outside the mesh");
  }
  const hops = l.xffNumTrustedHops ?? EDGE_DEFAULTS.xffNumTrustedHops;
  c.check(isCount(hops, 16), at("xffNumTrustedHops"), hops, "must be an integer in 0-16");
  const headers = l.requestHeadersTimeoutMillis ?? EDGE_DEFAULTS.requestHeadersTimeoutMillis;
  const idle = l.streamIdleTimeoutMillis ?? EDGE_DEFAULTS.streamIdleTimeoutMillis;
  const day = 86_400_000;
  const headersOk = c.check(
    isCount(headers, day) && headers > 0,
    at("requestHeadersTimeoutMillis"),
    headers,
    "must be an integer number of milliseconds in 1-86400000",
  );
  const idleOk = c.check(
    isCount(idle, day) && idle > 0,
    at("streamIdleTimeoutMillis"),
    idle,
    "must be an integer number of milliseconds in 1-86400000",
  );
  if (headersOk && idleOk) {
    // Envoy arms the idle timer with the stream, before the headers are in: a shorter one would cut slow headers.
    c.check(
      headers < idle,
      at("requestHeadersTimeoutMillis"),
      headers,
      `must be shorter than streamIdleTimeoutMillis (${idle})`,
    );
  }
  const maxConnections = l.maxConnections ?? EDGE_DEFAULTS.maxConnections;
  c.check(
    isCount(maxConnections, 1_000_000) && maxConnections > 0,
    at("maxConnections"),
    maxConnections,
    "must be an integer in 1-1000000",
  );
  const allowPlaintextExternal = l.allowPlaintextExternal ?? false;
  c.check(
    typeof allowPlaintextExternal === "boolean",
    at("allowPlaintextExternal"),
    allowPlaintextExternal,
    "must be true or false",
  );
  return {
    port,
    tlsMode: mode,
    callers,
    ...(edge !== undefined ? { edgeTlsSecret: edge } : {}),
    xffNumTrustedHops: hops,
    requestHeadersTimeoutMillis: headers,
    streamIdleTimeoutMillis: idle,
    maxConnections,
    allowPlaintextExternal,
  };
}

/** Service types that take traffic from outside the cluster. */
const EXTERNAL_SERVICE_TYPES = ["LoadBalancer", "NodePort"];

/**
 * A listener that takes plaintext must not face outside the cluster unless the caller says so: clients there
 * would send requests (and whatever credentials they carry) in the clear.
 */
export function checkExposure(c: Checker, listener: GatewayListener, serviceType: string, prefix = ""): void {
  if (listener.tlsMode === TlsMode.Strict || !EXTERNAL_SERVICE_TYPES.includes(serviceType)) return;
  c.check(
    listener.allowPlaintextExternal,
    `${prefix}serviceType`,
    serviceType,
    `exposes a listener that takes plaintext (tlsMode ${listener.tlsMode ?? "unset"}) outside the cluster: ` +
      `set ${prefix}listener.tlsMode STRICT (with edgeTlsSecret for clients outside the mesh), or ` +
      `${prefix}listener.allowPlaintextExternal true to accept it`,
  );
}
