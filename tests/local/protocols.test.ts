/**
 * tcp, http2 and grpc nodes, each proven with a real client of its protocol through two sidecars running the
 * rendered bootstraps over real SPIRE SVIDs: a TCP echo through tcp_proxy, an HTTP/2 request with ALPN h2, and a
 * unary gRPC call with @grpc/grpc-js (trailers and all), plus the active health check each kind of target gets
 * (TCP connect, HTTP/2 GET, grpc.health.v1).
 */
import * as assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { adminGet, newAdminSocketPath } from "../../local/adminSocket";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { freePort } from "../../local/ports";
import { Sidecar } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol, TlsMode, type VirtualNodeArgs } from "../../mesh/virtualNode";

const TRUST_DOMAIN = "howto-k8s-mtls-sds-based.aws";
const TD = `spiffe://${TRUST_DOMAIN}`;
const passThrough = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
/** A unary method on raw bytes: no .proto needed for an echo. */
const unary = (path: string) => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: passThrough.serialize,
  requestDeserialize: passThrough.deserialize,
  responseSerialize: passThrough.serialize,
  responseDeserialize: passThrough.deserialize,
});
const sayMethod = unary("/echo.Echo/Say");
const healthMethod = unary("/grpc.health.v1.Health/Check");

/** The app behind the server sidecar, for each protocol. */
async function startApp(protocol: ListenerProtocol): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  if (protocol === ListenerProtocol.Tcp) {
    const server = net.createServer((s) => s.pipe(s)).listen(port, "127.0.0.1");
    return { port, stop: () => server.close() };
  }
  if (protocol === ListenerProtocol.Http2) {
    const server = http2
      .createServer()
      .on("stream", (stream, headers) => {
        stream.respond({ ":status": 200, "x-proto": "h2" });
        stream.end(`h2 ${headers[":path"]}`);
      })
      .listen(port, "127.0.0.1");
    return { port, stop: () => server.close() };
  }
  const server = new grpc.Server();
  server.addService(
    {
      Say: sayMethod,
      Check: healthMethod,
    } as unknown as grpc.ServiceDefinition,
    {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) =>
        done(null, Buffer.concat([Buffer.from("echo:"), call.request])),
      // HealthCheckResponse{status: SERVING}
      Check: (_call: unknown, done: grpc.sendUnaryData<Buffer>) => done(null, Buffer.from([0x08, 0x01])),
    },
  );
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  return { port, stop: () => server.forceShutdown() };
}

interface Pair {
  readonly egress: string;
  readonly client: Sidecar;
  readonly server: Sidecar;
  readonly serverAdmin: string;
  readonly clientAdmin: string;
  stop(): void;
}

/** server (STRICT, callers: client) and client (calls it through its egress listener), sidecars on loopback. */
async function startPair(protocol: ListenerProtocol): Promise<Pair> {
  const server: VirtualNodeArgs = {
    name: `server-${protocol}`,
    namespace: "proto",
    podSelector: { app: `server-${protocol}` },
    trustDomain: TRUST_DOMAIN,
    identity: `${TD}/server-${protocol}`,
    protocol,
    tlsMode: TlsMode.Strict,
    allowedCallers: [`${TD}/client`],
    healthCheck: { intervalMillis: 5000 },
  };
  const hostname = `server-${protocol}.proto.svc.cluster.local`;
  const clientPlan = meshNodePlan({
    name: "client",
    namespace: "proto",
    podSelector: { app: "client" },
    trustDomain: TRUST_DOMAIN,
    identity: `${TD}/client`,
    backends: [server.name],
    allowedServers: [server.identity as string],
    egress: [{ virtualService: server.name, hostname, routes: [{ name: "all", target: server }] }],
    dataPlane: DataPlane.Envoy,
  });
  const serverPlan = meshNodePlan({ ...server, dataPlane: DataPlane.Envoy });
  const app = await startApp(protocol);
  const serverIngress = await freePort();
  const ports = { serverAdmin: newAdminSocketPath(), clientAdmin: newAdminSocketPath() };
  const serverSidecar = new Sidecar(sidecarPlan(serverPlan.envoy?.bootstrap), {
    agentSocket: spire.agentSocket,
    ingressPort: serverIngress,
    app: `127.0.0.1:${app.port}`,
    readinessPort: await freePort(),
    adminSocket: ports.serverAdmin,
    egress: {},
    endpoints: {},
  });
  const clientBootstrap = clientPlan.envoy?.bootstrap as {
    static_resources: { listeners: { name: string }[] };
  };
  const egressListener = clientBootstrap.static_resources.listeners.find((l) =>
    l.name.startsWith("lds_egress_"),
  );
  const egress = `127.0.0.1:${await freePort()}`;
  const clientSidecar = new Sidecar(sidecarPlan(clientBootstrap), {
    agentSocket: spire.agentSocket,
    ingressPort: await freePort(),
    app: `127.0.0.1:${await freePort()}`,
    readinessPort: await freePort(),
    adminSocket: ports.clientAdmin,
    egress: { [egressListener?.name as string]: egress },
    endpoints: { [`${hostname}:8080`]: `127.0.0.1:${serverIngress}` },
  });
  await Promise.all([serverSidecar.start(), clientSidecar.start()]);
  await Promise.all([serverSidecar.whenLive, clientSidecar.whenLive]);
  return {
    egress,
    client: clientSidecar,
    server: serverSidecar,
    ...ports,
    stop: () => {
      clientSidecar.stop();
      serverSidecar.stop();
      app.stop();
    },
  };
}

let spire: SpireHarness;
const admin = async (socket: string, path: string) => (await adminGet(socket, path)).body;

async function eventually<T>(what: string, attempt: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(e as Error).message}`);
      await delay(250);
    }
  }
}

describe("tcp, http2 and grpc through the sidecars, with real clients", function () {
  this.timeout(120_000);
  const pairs: Pair[] = [];

  before(async () => {
    spire = await startSpire({ agentAlias: `${TD}/ns/spire/sa/spire-agent` });
    // This process runs every sidecar, so its uid holds every identity.
    for (const id of ["client", "server-tcp", "server-http2", "server-grpc"]) {
      const r = spire.server([
        "entry",
        "create",
        "-spiffeID",
        `${TD}/${id}`,
        "-parentID",
        `${TD}/ns/spire/sa/spire-agent`,
        "-selector",
        spire.workloadSelector,
      ]);
      assert.equal(r.status, 0, r.stderr);
    }
  });
  after(async () => {
    for (const p of pairs) p.stop();
    await spire?.stop();
  });

  it("tcp: an echo through tcp_proxy over mTLS", async () => {
    const pair = await startPair(ListenerProtocol.Tcp);
    pairs.push(pair);
    const [host, port] = pair.egress.split(":");
    const echoed = await eventually("tcp echo", async () => {
      const socket = net.connect(Number(port), host);
      socket.end("ping over tcp");
      let data = "";
      for await (const chunk of socket) data += chunk;
      if (data !== "ping over tcp") throw new Error(`got ${JSON.stringify(data)}`);
      return data;
    });
    assert.equal(echoed, "ping over tcp");
    assert.match(
      await admin(pair.serverAdmin, "/stats"),
      /listener\.0\.0\.0\.0_15000\.ssl\.handshake: [1-9]/,
    );
    await eventually("healthy by TCP connect", async () => {
      if (!/::health_flags::healthy$/m.test((await admin(pair.clientAdmin, "/clusters")).split("\n")[2])) {
        throw new Error("not healthy yet");
      }
    });
  });

  it("http2: an HTTP/2 request reaches the app over h2 end to end", async () => {
    const pair = await startPair(ListenerProtocol.Http2);
    pairs.push(pair);
    const body = await eventually("h2 request", async () => {
      const session = http2.connect(`http://${pair.egress}`);
      try {
        const req = session.request({
          ":path": "/hello",
          ":authority": "server-http2.proto.svc.cluster.local:8080",
        });
        let status = 0;
        req.on("response", (h) => {
          status = Number(h[":status"]);
        });
        let data = "";
        for await (const chunk of req) data += chunk;
        if (status !== 200) throw new Error(`status ${status}: ${data}`);
        return data;
      } finally {
        session.close();
      }
    });
    assert.equal(body, "h2 /hello");
  });

  it("grpc: a unary call with @grpc/grpc-js, and the target healthy by grpc.health.v1", async () => {
    const pair = await startPair(ListenerProtocol.Grpc);
    pairs.push(pair);
    const Client = grpc.makeGenericClientConstructor(
      { Say: sayMethod } as unknown as grpc.ServiceDefinition,
      "Echo",
    );
    const client = new Client(pair.egress, grpc.credentials.createInsecure(), {
      "grpc.default_authority": "server-grpc.proto.svc.cluster.local:8080",
    }) as unknown as grpc.Client & {
      Say: (req: Buffer, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void;
    };
    try {
      const reply = await eventually(
        "grpc call",
        () =>
          new Promise<string>((resolve, reject) =>
            client.Say(Buffer.from("hello grpc"), (e, r) => (e ? reject(e) : resolve(String(r)))),
          ),
      );
      assert.equal(reply, "echo:hello grpc");
    } finally {
      client.close();
    }
    await eventually("healthy by grpc.health.v1", async () => {
      const clusters = await admin(pair.clientAdmin, "/clusters");
      if (!/server-grpc.*health_flags::healthy$/m.test(clusters)) throw new Error(clusters);
    });
  });
});
