/**
 * Authorization by SPIFFE ID on loopback with real SPIRE: blue's rendered bootstrap (STRICT, callers front and
 * red, a rule letting front GET /color) run by the sidecar with its SVID over SDS, called with front's and
 * red's real SVIDs. Enforced: front's GET answers, front's POST gets Envoy's 403 and moves rbac.denied, red (a
 * caller the SAN check admits but no rule names) is refused. Shadow: the same POST reaches the app and moves
 * the shadow counter instead. TCP: front connects, red's connection is closed.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import * as tls from "node:tls";
import { adminGet, newAdminSocketPath } from "../../local/adminSocket";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { statValue } from "../../local/mesh";
import { type Credentials, holdIdentity, outcome, probe } from "../../local/meshClient";
import { freePort } from "../../local/ports";
import { track } from "../../local/processes";
import { RBAC_DENIED, Sidecar } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS, waitUntil } from "../../local/waitUntil";
import { type AuthorizationArgs, AuthorizationMode } from "../../mesh/authorization";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol, TlsMode } from "../../mesh/virtualNode";

const TRUST_DOMAIN = "howto-k8s-mtls-sds-based.aws";
const TD = `spiffe://${TRUST_DOMAIN}`;
const AGENT = `${TD}/ns/spire/sa/spire-agent`;
const FRONT = `${TD}/front`;
const RED = `${TD}/colorred`;
const BLUE = `${TD}/authz-blue`;

/** Front may GET /color; red is a caller of the listener but named by no rule. */
const frontMayGetColor: AuthorizationArgs = {
  rules: [{ callers: [FRONT], path: { prefix: "/color" }, methods: ["GET"] }],
};

interface Running {
  readonly url: string;
  readonly port: number;
  stat(name: string): Promise<number>;
  stop(): void;
}

describe("the local mesh on real SPIRE: authorization by SPIFFE ID", function () {
  this.timeout(2 * PROPAGATION_MS + 60_000);
  let spire: SpireHarness;
  let asFront: Credentials;
  let asRed: Credentials;
  let appPort: number;
  const running: Running[] = [];

  /** Blue's bootstrap with this authorization, run by a sidecar in this process (its uid holds blue's entry). */
  async function blue(authorization: AuthorizationArgs, protocol = ListenerProtocol.Http): Promise<Running> {
    const plan = meshNodePlan({
      name: "blue",
      namespace: "authz",
      podSelector: { app: "blue" },
      trustDomain: TRUST_DOMAIN,
      identity: BLUE,
      tlsMode: TlsMode.Strict,
      allowedCallers: [FRONT, RED],
      protocol,
      authorization,
      dataPlane: DataPlane.Envoy,
    });
    const port = await freePort();
    const adminSocket = newAdminSocketPath();
    const sidecar = new Sidecar(sidecarPlan(plan.envoy?.bootstrap), {
      agentSocket: spire.agentSocket,
      ingressPort: port,
      app: `127.0.0.1:${appPort}`,
      readinessPort: await freePort(),
      adminSocket,
      egress: {},
      endpoints: {},
    });
    await sidecar.start();
    const r: Running = {
      url: `https://127.0.0.1:${port}`,
      port,
      stat: async (name) => statValue((await adminGet(adminSocket, "/stats")).body, name),
      stop: () => sidecar.stop(),
    };
    running.push(r);
    await sidecar.whenLive;
    return r;
  }

  const send = async (r: Running, method: string, credentials: Credentials) =>
    probe(`${r.url}/color`, { method, credentials });

  before(async () => {
    spire = await startSpire({ agentAlias: AGENT });
    asFront = await holdIdentity(spire, FRONT, AGENT);
    asRed = await holdIdentity(spire, RED, AGENT);
    await holdIdentity(spire, BLUE, AGENT);
    appPort = await freePort();
    track(
      spawn(process.execPath, [path.resolve(__dirname, "../../app/color-app.js")], {
        env: { ...process.env, COLOR: "blue", PORT: String(appPort), BIND_ADDRESS: "127.0.0.1" },
        stdio: "ignore",
      }),
    ).unref();
    // The app's own readiness, before any sidecar sends to it.
    await waitUntil(
      "the color app listening",
      async () => outcome(await probe(`http://127.0.0.1:${appPort}/ping`)),
      (s) => s === 200,
    );
  });
  after(async () => {
    for (const r of running) r.stop();
    await spire?.stop();
  });

  describe("enforced", () => {
    let r: Running;
    before(async () => {
      r = await blue(frontMayGetColor);
      await waitUntil(
        "blue answering front's GET /color",
        async () => outcome(await send(r, "GET", asFront)),
        (s) => s === 200,
      );
    });

    it("front's GET /color answers from the app and counts as allowed", async () => {
      const allowed = await r.stat("http.ingress_mtls.rbac.allowed");
      assert.deepEqual(await send(r, "GET", asFront), { status: 200, body: "blue" });
      assert.equal(await r.stat("http.ingress_mtls.rbac.allowed"), allowed + 1);
    });

    it("front's POST /color gets Envoy's 403 and moves rbac.denied; nothing reaches the app", async () => {
      const denied = await r.stat("http.ingress_mtls.rbac.denied");
      assert.deepEqual(await send(r, "POST", asFront), { status: 403, body: RBAC_DENIED });
      assert.equal(await r.stat("http.ingress_mtls.rbac.denied"), denied + 1);
    });

    it("red, a caller the SAN check admits but no rule names, is refused by RBAC, not by TLS", async () => {
      const handshakes = await r.stat("listener.0.0.0.0_15000.ssl.handshake");
      const denied = await r.stat("http.ingress_mtls.rbac.denied");
      assert.deepEqual(await send(r, "GET", asRed), { status: 403, body: RBAC_DENIED });
      assert.equal(await r.stat("http.ingress_mtls.rbac.denied"), denied + 1);
      assert.equal(
        await r.stat("listener.0.0.0.0_15000.ssl.handshake"),
        handshakes + 1,
        "red's TLS was accepted",
      );
    });
  });

  describe("shadow", () => {
    let r: Running;
    before(async () => {
      r = await blue({ ...frontMayGetColor, mode: AuthorizationMode.Shadow });
      await waitUntil(
        "shadow blue answering front",
        async () => outcome(await send(r, "GET", asFront)),
        (s) => s === 200,
      );
    });

    it("the same POST reaches the app (its own 501 answers) and moves the shadow counter, not rbac.denied", async () => {
      const shadowDenied = await r.stat("http.ingress_mtls.rbac.authz_shadow_denied");
      const result = await send(r, "POST", asFront);
      assert.equal(typeof result === "string" ? result : result.status, 501, "the app's answer to POST");
      assert.match(typeof result === "string" ? result : result.body, /Unsupported method \('POST'\)/);
      assert.equal(await r.stat("http.ingress_mtls.rbac.authz_shadow_denied"), shadowDenied + 1);
      assert.equal(await r.stat("http.ingress_mtls.rbac.denied"), 0);
    });

    it("red answers too, counted as shadow-denied; front's GET as shadow-allowed", async () => {
      const allowed = await r.stat("http.ingress_mtls.rbac.authz_shadow_allowed");
      const denied = await r.stat("http.ingress_mtls.rbac.authz_shadow_denied");
      assert.equal(outcome(await send(r, "GET", asRed)), 200);
      assert.equal(await r.stat("http.ingress_mtls.rbac.authz_shadow_denied"), denied + 1);
      assert.equal(outcome(await send(r, "GET", asFront)), 200);
      assert.equal(await r.stat("http.ingress_mtls.rbac.authz_shadow_allowed"), allowed + 1);
    });
  });

  describe("tcp: connect only", () => {
    let r: Running;
    /** An HTTP GET over a raw mTLS connection through the tcp listener: the app's answer, or how it ended. */
    const overTcp = (credentials: Credentials) =>
      new Promise<string>((resolve) => {
        let got = "";
        const socket = tls.connect({
          port: r.port,
          host: "127.0.0.1",
          ...credentials,
          checkServerIdentity: () => undefined,
        });
        socket.on("secureConnect", () =>
          socket.write("GET /color HTTP/1.1\r\nhost: blue\r\nconnection: close\r\n\r\n"),
        );
        socket.on("data", (d) => {
          got += d;
        });
        socket.on("error", (e: NodeJS.ErrnoException) => resolve(got || (e.code ?? e.message)));
        socket.on("close", () => resolve(got || "closed"));
        socket.setTimeout(5000, () => socket.destroy(new Error("timeout")));
      });

    before(async () => {
      r = await blue({ rules: [{ callers: [FRONT] }] }, ListenerProtocol.Tcp);
      await waitUntil(
        "tcp blue answering front",
        () => overTcp(asFront),
        (s) => s.startsWith("HTTP/1.1 200"),
      );
    });

    it("front's connection reaches the app; red's is closed on its first bytes and moves rbac.denied", async () => {
      assert.match(await overTcp(asFront), /^HTTP\/1\.1 200 [\s\S]*\r\nblue\r\n/);
      const denied = await r.stat("ingress_mtls.rbac.denied");
      assert.equal(await overTcp(asRed), "closed");
      assert.equal(await r.stat("ingress_mtls.rbac.denied"), denied + 1);
    });
  });
});
