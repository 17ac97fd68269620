/**
 * What an installation claims on every node, outside its namespace: the agents' socket directory and the two
 * ports the agents listen on in the node's network (health, and Prometheus when telemetry is on). Two
 * installations on one cluster must not share any of them: a second agent on the same directory replaces the
 * first one's socket, and on the same port it cannot start.
 *
 * So the defaults derive from the namespace, which is unique in a cluster. The default installation (namespace
 * `spire`) keeps the well-known values (App Mesh's injector expects /run/spire/sockets/agent.sock). Another
 * namespace gets a directory of its own, never inside the default's, and ports from a hash of its name. Ports
 * cannot be made unique by derivation alone: two installations whose ports still meet leave the second agent
 * Pending, with the scheduler's "didn't have free ports" as the reason, rather than crash-looping on a taken
 * port. The API server already turns a host-network pod's container ports into hostPorts; the agent declares
 * them itself, so the claim is in the template where review and policy read it, whatever that defaulting does.
 */

/** The namespace whose installation keeps the historical host paths and ports. */
export const DEFAULT_NAMESPACE = "spire";

export interface AgentHostClaims {
  readonly agentSocketDir: string;
  readonly agentHealthPort: number;
  /** The agents' Prometheus port when telemetry is on (the server's is on its pod's network: no claim). */
  readonly agentTelemetryPort: number;
}

const DEFAULT_CLAIMS: AgentHostClaims = {
  agentSocketDir: "/run/spire/sockets",
  agentHealthPort: 9982,
  agentTelemetryPort: 9988,
};

/**
 * Derived ports sit in 20000-29999: above the well-known node daemons (kubelet 10250, node exporter 9100...),
 * below the NodePort range (30000-32767) and Linux's ephemeral ports (32768+). A pair per namespace.
 */
const PORT_BASE = 20000;
const PORT_PAIRS = 5000;

/** FNV-1a (32 bit): stable across runs and platforms, and spreads similar names apart. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The host claims an installation in `namespace` makes unless its arguments say otherwise. */
export function agentHostClaims(namespace: string): AgentHostClaims {
  if (namespace === DEFAULT_NAMESPACE) return DEFAULT_CLAIMS;
  const health = PORT_BASE + 2 * (fnv1a(namespace) % PORT_PAIRS);
  return {
    // Under /run/spire/ns/: no namespace name can land inside the default's /run/spire/sockets.
    agentSocketDir: `/run/spire/ns/${namespace}`,
    agentHealthPort: health,
    agentTelemetryPort: health + 1,
  };
}
