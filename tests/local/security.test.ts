/**
 * What the rendered policy must deny, tried against the running mesh with real SVIDs: an unregistered workload,
 * a peer whose SPIFFE ID is not in the SAN list (red calling blue as if it were front), and plaintext to a STRICT
 * listener. And what PERMISSIVE must accept: TLS and plaintext alike. And the readiness port: it must never be a
 * way to the app, and an unregistered workload must stay NotReady.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as http from "node:http";
import * as https from "node:https";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../../local/mesh";
import { track } from "../../local/processes";
import { fetchSecrets } from "../../local/sdsClient";
import { Sidecar } from "../../local/sidecar";
import { freePort, type SpireHarness, startSpire } from "../../local/spireHarness";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";
import { renderStack } from "../support/render";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";

interface Credentials {
  cert: string;
  key: string;
  ca: string;
}

/** Gives this test process an identity (an entry for its own uid) and fetches it over SDS, in memory. */
async function identity(spire: SpireHarness, id: string): Promise<Credentials> {
  const r = spire.server([
    "entry",
    "create",
    "-spiffeID",
    id,
    "-parentID",
    `${TD}/ns/spire/sa/spire-agent`,
    "-selector",
    spire.workloadSelector,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const [svid] = await fetchSecrets(spire.agentSocket, [id], {
        node: { metadata: { disable_spiffe_cert_validation: true } },
      });
      const [bundle] = await fetchSecrets(spire.agentSocket, [TD], {
        node: { metadata: { disable_spiffe_cert_validation: true } },
      });
      return {
        cert: svid.tlsCertificate?.certificateChainPem ?? "",
        key: svid.tlsCertificate?.privateKeyPem() ?? "",
        ca: bundle.validationContext?.trustedCaPem ?? "",
      };
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await delay(500);
    }
  }
}

/** An HTTP(S) GET straight at a listener, bypassing front: the status, or the error that stopped it. */
function probe(url: string, credentials?: Credentials): Promise<number | string> {
  return new Promise((resolve) => {
    const options = credentials
      ? { ...credentials, agent: false, checkServerIdentity: () => undefined }
      : { agent: false };
    const onResponse = (res: http.IncomingMessage) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    };
    const req = url.startsWith("https")
      ? https.get(url, options, onResponse)
      : http.get(url, options, onResponse);
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
  });
}

const tlsUrl = (mesh: LocalMesh, workload: string) => mesh.ingressUrl(workload).replace("http:", "https:");

describe("the local mesh on real SPIRE: security", function () {
  this.timeout(180_000);
  let spire: SpireHarness;
  let mesh: LocalMesh;
  let asFront: Credentials;
  let asRed: Credentials;

  before(async () => {
    const dev = await renderStack("dev");
    spire = await startSpire({ agentAlias: `${TD}/ns/spire/sa/spire-agent` });
    mesh = await startLocalMesh(spire, dev);
    registerLocally(spire, dev, mesh);
    asFront = await identity(spire, `${TD}/front`);
    asRed = await identity(spire, `${TD}/colorred`);
    const deadline = Date.now() + 45_000;
    while ((await probe(tlsUrl(mesh, "blue"), asFront)) !== 200) {
      if (Date.now() > deadline) throw new Error("blue never accepted front");
      await delay(300);
    }
  });
  after(async () => {
    await mesh?.stop();
    await spire?.stop();
  });

  it("allows the SAN list's peer: front's SVID reaches blue", async () => {
    assert.equal(await probe(tlsUrl(mesh, "blue"), asFront), 200);
  });

  it("denies an unregistered workload: green has no SVID, so its listener resets and front gets no answer from it", async () => {
    assert.notEqual(await probe(tlsUrl(mesh, "green"), asFront), 200);
    const r = await fetch(`${mesh.ingressUrl("front")}/`, { headers: { color_header: "green" } });
    assert.notEqual(r.status, 200);
  });

  it("denies a peer not in the SAN list: red's SVID calling blue as if it were front", async () => {
    const before = statValue(
      await mesh.admin("blue", "/stats"),
      "listener.0.0.0.0_15000.ssl.fail_verify_san",
    );
    assert.notEqual(await probe(tlsUrl(mesh, "blue"), asRed), 200);
    const after = statValue(await mesh.admin("blue", "/stats"), "listener.0.0.0.0_15000.ssl.fail_verify_san");
    assert.equal(after, before + 1, "blue counted the SAN mismatch");
  });

  it("denies a client without a certificate and plaintext to a STRICT listener", async () => {
    assert.notEqual(
      await probe(tlsUrl(mesh, "blue"), { cert: "", key: "", ca: asFront.ca } as Credentials),
      200,
    );
    assert.notEqual(await probe(mesh.ingressUrl("blue")), 200);
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
      adminPort: await freePort(),
      egress: {},
      endpoints: {},
    });
    await sidecar.start();
    try {
      await sidecar.whenLive;
      const deadline = Date.now() + 30_000;
      while ((await probe(`https://127.0.0.1:${ingressPort}/`, asFront)) !== 200) {
        if (Date.now() > deadline) throw new Error("ledger never accepted front over TLS");
        await delay(300);
      }
      assert.equal(await probe(`http://127.0.0.1:${ingressPort}/`), 200, "plaintext");
      assert.equal(await probe(`https://127.0.0.1:${ingressPort}/`, asFront), 200, "TLS from front");
      assert.equal(await probe(`https://127.0.0.1:${ingressPort}/`, asRed), 200, "TLS from red");
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
      await probe(`http://127.0.0.1:${port}/ready`),
      "ECONNREFUSED",
      "no listener before its identity",
    );
  });
});
