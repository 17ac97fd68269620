/**
 * Listening ports for the loopback servers the tests and local jobs start (SPIRE, the control plane, sidecars).
 *
 * A port is picked, released and bound later by another process, so something else may take it in between.
 * Port 0 picks from the kernel's ephemeral range, the range every outgoing connection also draws from: under
 * load (many clusters, Pulumi runs and kubectl calls at once) a client socket took a picked port before kwok
 * bound it. So ports come from below that range, where only listeners live, at random (parallel test workers
 * pick independently), never twice in one process, and each is checked free before it is handed out.
 */
import * as fs from "node:fs";
import * as net from "node:net";

const LOWEST = 10_000;
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (32768 by default on Linux). */
function ephemeralStart(): number {
  try {
    const [low] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const port = Number(low);
    if (Number.isInteger(port) && port > LOWEST + 1000) return port;
  } catch {
    // Not Linux: fall back to Linux's default.
  }
  return 32_768;
}

const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** A port on 127.0.0.1 that nothing listens on now, outside the ephemeral range (SPIRE rejects port 0). */
export async function freePort(): Promise<number> {
  const end = ephemeralStart();
  for (let tries = 0; tries < 200; tries++) {
    const port = LOWEST + Math.floor(Math.random() * (end - LOWEST));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port found on 127.0.0.1 between ${LOWEST} and ${end} after 200 tries`);
}
