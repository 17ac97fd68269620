/**
 * What the rendered policy must deny, tried against the running mesh with real SVIDs: an unregistered workload,
 * a peer whose SPIFFE ID is not in the SAN list (red calling blue as if it were front), and plaintext to a STRICT
 * listener. And what PERMISSIVE must accept: TLS and plaintext alike. And the readiness port: it must never be a
 * way to the app, and an unregistered workload must stay NotReady.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { newAdminSocketPath } from "../../local/adminSocket";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../../local/mesh";
import { type Credentials, holdIdentity, outcome, probe } from "../../local/meshClient";
import { freePort } from "../../local/ports";
import { track } from "../../local/processes";
import { Sidecar } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS, waitUntil } from "../../local/waitUntil";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";
import { renderStack } from "../support/render";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";

const AGENT = `${TD}/ns/spire/sa/spire-agent`;
const identity = (spire: SpireHarness, id: string) => holdIdentity(spire, id, AGENT);
const status = async (url: string, credentials?: Credentials) => outcome(await probe(url, { credentials }));

const tlsUrl = (mesh: LocalMesh, workload: string) => mesh.ingressUrl(workload).replace("http:", "https:");

describe("the local mesh on real SPIRE: security", function () {
  // Above the bounded waits inside (PROPAGATION_MS each), so a slow machine fails with their message.
  this.timeout(2 * PROPAGATION_MS + 60_000);
  let spire: SpireHarness;
  let mesh: LocalMesh;
  let asFront: Credentials;
  let asRed: Credentials;

  before(async () => {
    const dev = await renderStack("dev");
    spire = await startSpire({ agentAlias: AGENT });
    mesh = await startLocalMesh(spire, dev);
    registerLocally(spire, dev, mesh);
    asFront = await identity(spire, `${TD}/front`);
    asRed = await identity(spire, `${TD}/colorred`);
    await mesh.whenLive("blue");
    await waitUntil(
      "blue accepting front's SVID",
      () => status(tlsUrl(mesh, "blue"), asFront),
      (s) => s === 200,
    );
  });
  after(async () => {
    await mesh?.stop();
    await spire?.stop();
  });

  it("allows the SAN list's peer: front's SVID reaches blue", async () => {
    assert.equal(await status(tlsUrl(mesh, "blue"), asFront), 200);
  });

  it("denies an unregistered workload: green has no SVID, so its listener resets and front gets no answer from it", async () => {
    assert.notEqual(await status(tlsUrl(mesh, "green"), asFront), 200);
    const r = await fetch(`${mesh.ingressUrl("front")}/`, { headers: { color_header: "green" } });
    assert.notEqual(r.status, 200);
  });

  it("denies a peer not in the SAN list: red's SVID calling blue as if it were front", async () => {
    const before = statValue(
      await mesh.admin("blue", "/stats"),
      "listener.0.0.0.0_15000.ssl.fail_verify_san",
    );
    assert.notEqual(await status(tlsUrl(mesh, "blue"), asRed), 200);
    const after = statValue(await mesh.admin("blue", "/stats"), "listener.0.0.0.0_15000.ssl.fail_verify_san");
    assert.equal(after, before + 1, "blue counted the SAN mismatch");
  });

  it("denies a client without a certificate and plaintext to a STRICT listener", async () => {
    assert.notEqual(
      await status(tlsUrl(mesh, "blue"), { cert: "", key: "", ca: asFront.ca } as Credentials),
      200,
    );
    assert.notEqual(await status(mesh.ingressUrl("blue")), 200);
  });

  it("PERMISSIVE (which takes no caller list) accepts plaintext and TLS from any workload of the trust domain", async () => {
    const ledger = `${TD}/ledger`;
    const plan = meshNodePlan({
      name: "ledger",
      namespace: "ledger",
      podSelector: { app: "ledger" },
      trustDomain: "howto-k8s-mtls-sds-based.aws",
      identity: ledger,
      tlsMode: TlsMode.Permissive,
      dataPlane: DataPlane.Envoy,
    });
    await identity(spire, ledger);
    const appPort = await freePort();
    const app = track(
      spawn(process.execPath, [path.resolve(__dirname, "../../app/color-app.js")], {
        env: { ...process.env, COLOR: "ledger", PORT: String(appPort), BIND_ADDRESS: "127.0.0.1" },
        stdio: "ignore",
      }),
    );
    const ingressPort = await freePort();
    // In this process: the test's uid holds the ledger entry, so the sidecar gets ledger's SVID.
    const sidecar = new Sidecar(sidecarPlan(plan.envoy?.bootstrap), {
      agentSocket: spire.agentSocket,
      ingressPort,
      app: `127.0.0.1:${appPort}`,
      readinessPort: await freePort(),
      adminSocket: newAdminSocketPath(),
      egress: {},
      endpoints: {},
    });
    await sidecar.start();
    try {
      await sidecar.whenLive;
      await waitUntil(
        "ledger accepting front over TLS",
        () => status(`https://127.0.0.1:${ingressPort}/`, asFront),
        (s) => s === 200,
      );
      assert.equal(await status(`http://127.0.0.1:${ingressPort}/`), 200, "plaintext");
      assert.equal(await status(`https://127.0.0.1:${ingressPort}/`, asFront), 200, "TLS from front");
      assert.equal(await status(`https://127.0.0.1:${ingressPort}/`, asRed), 200, "TLS from red");
    } finally {
      sidecar.stop();
      app.kill("SIGKILL");
    }
  });

  it("the readiness port answers exactly GET /ready with Envoy's readiness and never reaches the app", async () => {
    const url = (p: string) => `http://127.0.0.1:${mesh.workloads.blue.placement.readinessPort}${p}`;
    const live = await fetch(url("/ready"));
    assert.deepEqual([live.status, await live.text()], [200, "LIVE\n"]);
    for (const [method, p] of [
      // Real Envoy answers 404 here too, for the rendered `:path` header match: the :path header keeps the query
      // string. The route's `path: /ready` alone would match (Envoy's path match drops the query), and the
      // sidecar routes by those same rules (bootstrapPlan.test.ts shows it taking /ready?x=1 without the header).
      ["GET", "/ready?x=1"],
      ["POST", "/ready"],
      ["GET", "/ping"],
      ["GET", "/"],
    ]) {
      const r = await fetch(url(p), { method });
      assert.equal(r.status, 404, `${method} ${p}`);
    }
  });

  it("an unregistered workload stays NotReady: green's sidecar never leaves initializing", async () => {
    const ready = await mesh.admin("green", "/ready");
    assert.equal(ready, "INITIALIZING\n");
    const port = mesh.workloads.green.placement.readinessPort;
    assert.equal(
      await status(`http://127.0.0.1:${port}/ready`),
      "ECONNREFUSED",
      "no listener before its identity",
    );
  });
});
