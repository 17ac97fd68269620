/**
 * The mesh under real SPIRE trouble: SVID rotation under continuous traffic, a SIGKILLed server, a restarted
 * agent. The apps, sidecars and entries are the dev stack's (rendered with a short SVID TTL so rotation happens
 * within the test).
 */
import * as assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../../local/mesh";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import type { RenderResult } from "../../render/runtime";
import { renderStack } from "../support/render";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";

async function get(mesh: LocalMesh, color: string): Promise<number> {
  try {
    const r = await fetch(`${mesh.ingressUrl("front")}/`, { headers: { color_header: color } });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(200);
  }
}

const servedSerial = async (mesh: LocalMesh, workload: string) => {
  const json = JSON.parse(await mesh.admin(workload, "/certs")) as {
    certificates: { cert_chain: { serial_number: string }[] }[];
  };
  return json.certificates[0]?.cert_chain[0]?.serial_number;
};

describe("the local mesh on real SPIRE: reliability", function () {
  this.timeout(240_000);
  let spire: SpireHarness;
  let mesh: LocalMesh;
  let withGreen: RenderResult;

  before(async () => {
    // 8 s SVIDs: the agent re-mints them at about half-life, so a rotation every few seconds.
    const dev = await renderStack("dev", { svidTtl: "8s" });
    withGreen = await renderStack("dev", { svidTtl: "8s", registerGreen: "true" });
    spire = await startSpire({ agentAlias: `${TD}/ns/spire/sa/spire-agent` });
    mesh = await startLocalMesh(spire, dev);
    registerLocally(spire, dev, mesh);
    await until("blue answering through front", async () => (await get(mesh, "blue")) === 200);
  });
  after(async () => {
    await mesh?.stop();
    await spire?.stop();
  });

  it("rotation: continuous requests through at least 3 rotations, none failing, and the served certificate changes", async () => {
    const serials = new Set<string>();
    let requests = 0;
    let failures = 0;
    const deadline = Date.now() + 60_000;
    while (serials.size < 4 && Date.now() < deadline) {
      const status = await get(mesh, "blue");
      requests++;
      if (status !== 200) failures++;
      const serial = await servedSerial(mesh, "blue");
      if (serial) serials.add(serial);
    }
    assert.ok(serials.size >= 4, `blue served ${serials.size} certificates (3 rotations need 4)`);
    assert.equal(failures, 0, `${failures} of ${requests} requests failed during rotation`);
    assert.ok(requests > 50, `only ${requests} requests`);
  });

  it("server crash: served identities keep working; after a restart every entry is there and a new one still reaches workloads", async () => {
    const before = spire
      .entries()
      .map((e) => e.id)
      .sort();
    await spire.killServer();
    for (let i = 0; i < 20; i++) assert.equal(await get(mesh, "blue"), 200, "blue with the server down");
    await spire.restartServer();
    assert.deepEqual(
      spire
        .entries()
        .map((e) => e.id)
        .sort(),
      before,
    );
    registerLocally(spire, withGreen, mesh, (id) => id === `${TD}/colorgreen`);
    await until("green answering after registration", async () => (await get(mesh, "green")) === 200);
  });

  it("agent restart: the SDS streams recover and new requests succeed", async () => {
    const pushes = async () =>
      statValue(await mesh.admin("front", "/stats?filter=update_success"), `sds.${TD}/front.update_success`);
    const pushesBefore = await pushes();
    await spire.restartAgent();
    await until("a new SDS push to front after the restart", async () => (await pushes()) > pushesBefore);
    for (const color of ["blue", "red", "green"]) {
      await until(`${color} answering after the agent restart`, async () => (await get(mesh, color)) === 200);
    }
    let failures = 0;
    for (let i = 0; i < 20; i++) if ((await get(mesh, "blue")) !== 200) failures++;
    assert.equal(failures, 0);
  });
});
