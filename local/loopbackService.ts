/**
 * A loopback stand-in for the server's ClusterIP Service: one port, connections spread round-robin over the
 * server replicas, and a replica that refuses connections (killed, not yet up) skipped the way a Service drops an
 * endpoint that is not Ready. Agents keep one long-lived gRPC connection; when its server dies they reconnect and
 * land on a live one, as they do through kube-proxy.
 */
import { once } from "node:events";
import * as net from "node:net";

export interface LoopbackService {
  readonly port: number;
  /** Connections accepted, and how many went to each backend port. */
  readonly counts: Readonly<Record<number, number>>;
  /** Connections open right now through each backend port: which server a client is talking to. */
  readonly open: Readonly<Record<number, number>>;
  close(): Promise<void>;
}

export async function startLoopbackService(backends: readonly number[]): Promise<LoopbackService> {
  let next = 0;
  const counts: Record<number, number> = Object.fromEntries(backends.map((p) => [p, 0]));
  const openTo: Record<number, number> = Object.fromEntries(backends.map((p) => [p, 0]));
  const open = new Set<net.Socket>();

  const connect = (client: net.Socket, tried: number) => {
    if (tried >= backends.length) {
      client.destroy();
      return;
    }
    const port = backends[next++ % backends.length];
    const upstream = net.connect(port, "127.0.0.1");
    let connected = false;
    open.add(upstream);
    upstream.once("close", () => open.delete(upstream));
    upstream.on("error", () => {
      // Refused: try the next replica. Once connected, a broken connection is the client's to notice.
      if (!connected) connect(client, tried + 1);
      else client.destroy();
    });
    upstream.once("connect", () => {
      connected = true;
      counts[port]++;
      openTo[port]++;
      upstream.once("close", () => openTo[port]--);
      client.pipe(upstream).pipe(client);
      client.once("close", () => upstream.destroy());
      upstream.once("close", () => client.destroy());
      client.resume();
    });
  };

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    connect(client, 0);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as net.AddressInfo).port,
    counts,
    open: openTo,
    close: async () => {
      for (const socket of open) socket.destroy();
      server.close();
      await once(server, "close").catch(() => undefined);
    },
  };
}
