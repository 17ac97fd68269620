/**
 * An ingress gateway's listener, checked: STRICT mTLS admitting exact SPIFFE callers, STRICT TLS with an edge
 * certificate from a Kubernetes Secret (clients present none), PERMISSIVE, or plaintext. Pure.
 */
import { type Checker, isDnsSubdomain, isPort } from "../core/validation";
import { envoyPorts } from "./envoyBootstrap";
import { TlsMode } from "./virtualNode";

/** The gateway's listener port unless given: the App Mesh ingress example's. */
export const GATEWAY_PORT = 8088;
/** Where an edge certificate's Secret is mounted in the gateway's Envoy (kubernetes.io/tls keys), beside the bootstrap. */
export const EDGE_TLS_DIR = "/etc/edge-tls";
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
}

/** The checked listener. */
export interface GatewayListener {
  readonly port: number;
  readonly tlsMode?: TlsMode;
  readonly callers: readonly string[];
  readonly edgeTlsSecret?: string;
}

/** The listener's rules; `prefix` places its fields (e.g. under ColorApp's `gateway`). */
export function checkGatewayListener(
  c: Checker,
  l: GatewayListenerArgs,
  spiffe: (field: string, id: string) => unknown,
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
  const callers = [...(l.callers ?? [])];
  for (const [i, id] of callers.entries()) {
    spiffe(at(`callers[${i}]`), id);
    c.check(callers.indexOf(id) === i, at(`callers[${i}]`), id, "repeats a caller");
  }
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
  if (mode === TlsMode.Strict && edge === undefined) {
    c.check(
      callers.length > 0,
      at("callers"),
      callers,
      "STRICT needs callers: at least one SPIFFE ID to admit (or edgeTlsSecret for clients outside the mesh)",
    );
  }
  if (mode === TlsMode.Permissive) {
    c.check(
      callers.length === 0,
      at("callers"),
      callers,
      "conflict with tlsMode PERMISSIVE: plaintext callers skip the SAN check; use STRICT to admit only these",
    );
  }
  if (mode === undefined) {
    c.check(callers.length === 0, at("callers"), callers, "need listener TLS (set tlsMode STRICT)");
  }
  return { port, tlsMode: mode, callers, ...(edge !== undefined ? { edgeTlsSecret: edge } : {}) };
}
