/**
 * The gateway's edge rules (issue 21, finding 7), run through the loopback sidecar on real SPIRE SVIDs: its
 * rendered bootstrap in front of an mTLS echo server holding the target's SVID, so what the gateway forwards is
 * seen exactly. /ledger never takes /ledgerX; paths are normalized before routing and escaped slashes refused;
 * client x-envoy-* headers never reach the target and the client is the connection's peer (or the trusted hop's
 * X-Forwarded-For entry); slow headers and idle streams get a 408; connections beyond the cap are closed on
 * accept while the kubelet's readiness port still answers.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { adminGet, newAdminSocketPath } from "../../local/adminSocket";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { statValue } from "../../local/mesh";
import { type Credentials, holdIdentity } from "../../local/meshClient";
import { freePort } from "../../local/ports";
import { Sidecar } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { waitUntil } from "../../local/waitUntil";
import type { GatewayListenerArgs } from "../../mesh/gatewayListener";
import { gatewayPlan } from "../../mesh/gatewayObjects";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are read as plain JSON.
type Json = any;

const TRUST_DOMAIN = "howto-k8s-mtls-sds-based.aws";
const TD = `spiffe://${TRUST_DOMAIN}`;
const AGENT = `${TD}/ns/spire/sa/spire-agent`;
const LISTENER = "listener.0.0.0.0_8088";
const HTTP = "http.ingress_plaintext";
/** The headers a client must not steer Envoy (or the targets' Envoys) with. */
const CONTROL = {
  "x-envoy-upstream-rq-timeout-ms": "1",
  "x-envoy-retry-on": "5xx",
  "x-envoy-max-retries": "10",
  "x-envoy-downstream-service-cluster": "spoofed",
};

interface Seen {
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** An mTLS server holding ledger's SVID: answers what it was sent; `x-test-delay-ms` delays the answer. */
async function startEcho(credentials: Credentials) {
  const seen: Seen[] = [];
  const port = await freePort();
  const server = https.createServer(
    { ...credentials, requestCert: true, rejectUnauthorized: true },
    async (req, res) => {
      if (req.url === "/ping") return void res.end("pong");
      seen.push({ path: req.url ?? "", headers: req.headers });
      await delay(Number(req.headers["x-test-delay-ms"] ?? 0));
      res.end(JSON.stringify({ path: req.url }));
    },
  );
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { port, seen, stop: () => server.close() };
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** One request on its own connection, the path sent as is (no URL parsing, which would resolve dot segments). */
function send(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer | string> {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}
const status = (a: Answer | string) => (typeof a === "string" ? a : a.status);

/** What a raw connection receives until the gateway closes it (or `limitMs` passes), after writing `bytes`. */
function rawExchange(port: number, bytes: string, limitMs: number) {
  return new Promise<{ data: string; closedAfterMs: number }>((resolve) => {
    const started = Date.now();
    let data = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    socket.on("data", (d) => {
      data += d;
    });
    socket.on("error", () => {});
    const timer = setTimeout(() => socket.destroy(), limitMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ data, closedAfterMs: Date.now() - started });
    });
  });
}

describe("the gateway's edge rules through the loopback sidecar, on real SPIRE", function () {
  this.timeout(180_000);
  let spire: SpireHarness;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  const stops: (() => void)[] = [];

  before(async () => {
    spire = await startSpire({ agentAlias: AGENT });
    // This process runs the gateway and the echo server, so its uid holds both identities.
    await holdIdentity(spire, `${TD}/edge`, AGENT);
    echo = await startEcho(await holdIdentity(spire, `${TD}/ledger`, AGENT));
    stops.push(echo.stop);
  });
  after(async () => {
    for (const stop of stops) stop();
    await spire?.stop();
  });

  /** The rendered gateway with `listener`, its ledger cluster placed at the echo server. */
  async function gateway(listener: GatewayListenerArgs = {}) {
    const bootstrap: Json = gatewayPlan({
      name: "edge",
      namespace: "shop",
      trustDomain: TRUST_DOMAIN,
      identity: `${TD}/edge`,
      listener,
      backends: [
        {
          virtualService: "ledger",
          hostname: "ledger.shop.svc.cluster.local",
          routes: [
            {
              name: "all",
              target: {
                name: "ledger",
                namespace: "shop",
                podSelector: { app: "ledger" },
                trustDomain: TRUST_DOMAIN,
                identity: `${TD}/ledger`,
              },
            },
          ],
        },
      ],
      routes: [{ prefix: "/ledger", virtualService: "ledger" }],
    }).bootstrap;
    const cluster = bootstrap.static_resources.clusters.find((c: Json) => c.name.startsWith("cds_egress_"));
    const { address, port_value } =
      cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    const placement = {
      agentSocket: spire.agentSocket,
      ingressPort: await freePort(),
      readinessPort: await freePort(),
      adminSocket: newAdminSocketPath(),
      egress: {},
      endpoints: { [`${address}:${port_value}`]: `127.0.0.1:${echo.port}` },
    };
    const sidecar = new Sidecar(sidecarPlan(bootstrap), placement);
    stops.push(() => sidecar.stop());
    await sidecar.start();
    await sidecar.whenLive;
    const stat = async (name: string) =>
      statValue((await adminGet(placement.adminSocket, "/stats")).body, name);
    return { port: placement.ingressPort, readinessPort: placement.readinessPort, stat };
  }

  /** Sends through the gateway; returns the answer and what the echo server saw of it (none: not routed). */
  async function through(port: number, path: string, headers: Record<string, string> = {}) {
    const before = echo.seen.length;
    const answer = await send(port, path, headers);
    return { answer, seen: echo.seen.slice(before) };
  }

  it("/ledger takes /ledger, /ledger/... and /ledger?q, never /ledgerX; paths are normalized before routing", async () => {
    const g = await gateway();
    for (const [path, upstreamPath] of [
      ["/ledger", "/"],
      ["/ledger?q=1", "/?q=1"],
      ["/x/../ledger", "/"],
      ["//ledger", "/"],
      ["/./ledger", "/"],
    ]) {
      const { answer, seen } = await through(g.port, path);
      assert.equal(status(answer), 200, path);
      assert.deepEqual(
        seen.map((s) => s.path),
        [upstreamPath],
        path,
      );
    }
    // Without normalization /ledger/../x would reach ledger as //../x, which its server resolves to /x.
    for (const path of ["/ledgerX", "/ledger-admin", "/ledger/../x", "/LEDGER"]) {
      const { answer, seen } = await through(g.port, path);
      assert.equal(status(answer), 404, path);
      assert.deepEqual(seen, [], `${path} reached nothing`);
    }
  });

  it("an escaped slash is refused with 400 before routing, counted as Envoy counts it", async () => {
    const g = await gateway();
    for (const path of ["/ledger%2F..%2Fx", "/ledger%5cx", "/x%2f"]) {
      const { answer, seen } = await through(g.port, path);
      assert.equal(status(answer), 400, path);
      assert.deepEqual(seen, [], path);
    }
    assert.equal(await g.stat(`${HTTP}.downstream_rq_failed_path_normalization`), 3);
  });

  it("client x-envoy-* headers never reach the target; the client is the peer, its X-Forwarded-* claims overruled", async () => {
    const g = await gateway();
    const { answer, seen } = await through(g.port, "/ledger", {
      ...CONTROL,
      "x-forwarded-for": "198.51.100.7",
      "x-forwarded-proto": "https",
    });
    assert.equal(status(answer), 200);
    assert.equal(seen.length, 1, "the request reached the target");
    const h = seen[0].headers;
    for (const name of [...Object.keys(CONTROL), "x-envoy-expected-rq-timeout-ms"]) {
      assert.equal(h[name], undefined, `${name} reached the target`);
    }
    assert.equal(h["x-envoy-external-address"], "127.0.0.1", "the peer, not the client's claim");
    assert.equal(h["x-forwarded-for"], "198.51.100.7,127.0.0.1");
    assert.equal(h["x-forwarded-proto"], "http", "plaintext, whatever the client claimed");
    // The gateway's router adds no x-envoy header of its own to the response either.
    assert.deepEqual(
      Object.keys((answer as Answer).headers).filter((k) => k.startsWith("x-envoy-")),
      [],
    );
  });

  it("behind one trusted proxy, the client is that proxy's X-Forwarded-For entry", async () => {
    const g = await gateway({ xffNumTrustedHops: 1 });
    const { seen } = await through(g.port, "/ledger", { "x-forwarded-for": "203.0.113.1, 198.51.100.7" });
    assert.equal(seen[0]?.headers["x-envoy-external-address"], "198.51.100.7");
  });

  it("headers not complete within request_headers_timeout get a 408 and the connection closed", async () => {
    const g = await gateway({ requestHeadersTimeoutMillis: 400, streamIdleTimeoutMillis: 10_000 });
    const seenBefore = echo.seen.length;
    const slow = await rawExchange(g.port, "GET /ledger HTTP/1.1\r\nHost: edge\r\n", 10_000);
    assert.match(slow.data, /^HTTP\/1\.1 408 /);
    assert.ok(
      slow.closedAfterMs >= 400 && slow.closedAfterMs < 5_000,
      `closed after ${slow.closedAfterMs} ms`,
    );
    assert.equal(await g.stat(`${HTTP}.downstream_rq_header_timeout`), 1);
    assert.equal(echo.seen.length, seenBefore, "nothing was routed");
    // The control: the same request, completed in time, is answered.
    const whole = await rawExchange(
      g.port,
      "GET /ledger HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
      10_000,
    );
    assert.match(whole.data, /^HTTP\/1\.1 200 /);
  });

  it("a stream idle longer than stream_idle_timeout gets a 408 'stream timeout'", async () => {
    const g = await gateway({ requestHeadersTimeoutMillis: 200, streamIdleTimeoutMillis: 700 });
    const started = Date.now();
    const { answer, seen } = await through(g.port, "/ledger", { "x-test-delay-ms": "5000" });
    assert.deepEqual([status(answer), (answer as Answer).body], [408, "stream timeout"]);
    assert.ok(Date.now() - started < 4_000, "cut before the target answered");
    assert.equal(seen.length, 1, "the request had reached the target");
    assert.equal(await g.stat(`${HTTP}.downstream_rq_idle_timeout`), 1);
  });

  it("beyond maxConnections a connection is closed on accept; readiness still answers; a freed slot is taken again", async () => {
    const g = await gateway({ maxConnections: 2 });
    // Two connections, each holding a request the target answers only after 20 s: both are open, and both were
    // accepted (the target saw their requests), so they hold both slots.
    const seenBefore = echo.seen.length;
    const held = [0, 1].map(() => {
      const socket = net.connect(g.port, "127.0.0.1", () =>
        socket.write("GET /ledger HTTP/1.1\r\nHost: edge\r\nx-test-delay-ms: 20000\r\n\r\n"),
      );
      socket.on("error", () => {});
      return socket;
    });
    try {
      await waitUntil(
        "both held requests to reach the target",
        () => echo.seen.length - seenBefore,
        (n) => n === 2,
        { timeoutMs: 30_000 },
      );
      const refused = await rawExchange(g.port, "GET /ledger HTTP/1.1\r\nHost: edge\r\n\r\n", 10_000);
      assert.equal(refused.data, "", "closed without an answer");
      assert.equal(await g.stat(`${LISTENER}.downstream_global_cx_overflow`), 1);
      const ready = await send(g.readinessPort, "/ready");
      assert.deepEqual(
        typeof ready === "string" ? ready : [ready.status, ready.body],
        [200, "LIVE\n"],
        "readiness ignores the cap",
      );
      held[0].destroy();
      await waitUntil(
        "the freed slot to take a new connection",
        async () => status(await send(g.port, "/ledger")),
        (s) => s === 200,
        { timeoutMs: 30_000 },
      );
      held[1].destroy();
    } finally {
      // Also on failure: an open socket would keep the test process alive.
      for (const socket of held) socket.destroy();
    }
  });
});
