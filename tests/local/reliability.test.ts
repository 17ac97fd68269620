/**
 * The mesh under real SPIRE trouble: SVID rotation under continuous traffic, a SIGKILLed server, a restarted
 * agent. The apps, sidecars and entries are the dev stack's (rendered with a short SVID TTL so rotation happens
 * within the test).
 */
import * as assert from "node:assert/strict";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../../local/mesh";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS, waitUntil } from "../../local/waitUntil";
import type { RenderResult } from "../../render/runtime";
import { renderStack } from "../support/render";
import { viaFront } from "../support/witness";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";

/** Until front relays `color`'s answer: awaited only once both sidecars are LIVE on their own. */
const untilAnswering = (mesh: LocalMesh, color: string, when: string) =>
  waitUntil(
    `${color} answering through front ${when}`,
    () => viaFront(mesh, color),
    (status) => status === 200,
  );

/** Requests each served certificate must have answered for a rotation to count. */
const REQUESTS_PER_CERTIFICATE = 5;

const servedSerial = async (mesh: LocalMesh, workload: string) => {
  const json = JSON.parse(await mesh.admin(workload, "/certs")) as {
    certificates: { cert_chain: { serial_number: string }[] }[];
  };
  return json.certificates[0]?.cert_chain[0]?.serial_number;
};

describe("the local mesh on real SPIRE: reliability", function () {
  // Above the bounded waits inside (PROPAGATION_MS each), so a slow machine fails with their message.
  this.timeout(3 * PROPAGATION_MS);
  let spire: SpireHarness;
  let mesh: LocalMesh;
  let withGreen: RenderResult;

  before(async () => {
    // 8 s SVIDs: the agent re-mints them at about half-life, so a rotation every few seconds.
    const dev = await renderStack("dev", { svidTtl: "8s" });
    withGreen = await renderStack("dev", { svidTtl: "8s", registerGreen: "true" });
    spire = await startSpire({ agentAlias: `${TD}/ns/spire/sa/spire-agent` });
    mesh = await startLocalMesh(spire, dev);
    assert.deepEqual(registerLocally(spire, dev, mesh).length, 3, "front, blue and red registered");
    // Each on its own readiness (its SVID and bundle delivered), then the path between them.
    await Promise.all(["front", "blue", "red"].map((w) => mesh.whenLive(w)));
    await untilAnswering(mesh, "blue", "once both are LIVE");
  });
  after(async () => {
    await mesh?.stop();
    await spire?.stop();
  });

  it("rotation: continuous requests through at least 3 rotations, none failing, and the served certificate changes", async () => {
    // Requests answered under each served certificate: the floor is per certificate, not per second, so a slow
    // machine runs longer instead of trying less.
    const perSerial = new Map<string, number>();
    const covered = () => [...perSerial.values()].filter((n) => n >= REQUESTS_PER_CERTIFICATE).length;
    let requests = 0;
    let failures = 0;
    // Rotation runs on SPIRE's clock (about every 5 s here); the bound only stops a rotation that never comes.
    const deadline = Date.now() + PROPAGATION_MS;
    while (covered() < 4 && Date.now() < deadline) {
      const status = await viaFront(mesh, "blue");
      requests++;
      if (status !== 200) failures++;
      const serial = await servedSerial(mesh, "blue");
      if (serial) perSerial.set(serial, (perSerial.get(serial) ?? 0) + 1);
    }
    const counts = [...perSerial.values()].join(", ");
    assert.ok(
      covered() >= 4,
      `blue served ${perSerial.size} certificates with ${counts} requests each (3 rotations need 4 with ${REQUESTS_PER_CERTIFICATE} or more)`,
    );
    assert.equal(failures, 0, `${failures} of ${requests} requests failed during rotation`);
  });

  it("server crash: served identities keep working; after a restart every entry is there and a new one still reaches workloads", async () => {
    const before = spire
      .entries()
      .map((e) => e.id)
      .sort();
    await spire.killServer();
    for (let i = 0; i < 20; i++) assert.equal(await viaFront(mesh, "blue"), 200, "blue with the server down");
    await spire.restartServer();
    assert.deepEqual(
      spire
        .entries()
        .map((e) => e.id)
        .sort(),
      before,
    );
    registerLocally(spire, withGreen, mesh, (id) => id === `${TD}/colorgreen`);
    await mesh.whenLive("green");
    await untilAnswering(mesh, "green", "after its registration on the restarted server");
  });

  it("agent restart: the SDS streams recover and new requests succeed", async () => {
    const pushes = async () =>
      statValue(await mesh.admin("front", "/stats?filter=update_success"), `sds.${TD}/front.update_success`);
    const pushesBefore = await pushes();
    await spire.restartAgent();
    await waitUntil("a new SDS push to front after the agent restart", pushes, (n) => n > pushesBefore);
    for (const color of ["blue", "red", "green"])
      await untilAnswering(mesh, color, "after the agent restart");
    let failures = 0;
    for (let i = 0; i < 20; i++) if ((await viaFront(mesh, "blue")) !== 200) failures++;
    assert.equal(failures, 0);
  });
});
