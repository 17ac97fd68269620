/**
 * The security matrix extended to the ingress gateway (issue 13), on loopback with real SVIDs: the dev stack with
 * gateway=true, its gateway running its rendered bootstrap like every sidecar. What must be denied: a gateway
 * without its entry, a gateway whose SVID the targets do not admit, a target presenting the wrong SAN to the
 * gateway, and any workload its routes do not name. And the positive control: registered, it reaches blue and
 * red over mTLS.
 */
import * as assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../../local/mesh";
import { holdIdentity, outcome, probe } from "../../local/meshClient";
import { type Placement, Sidecar } from "../../local/sidecar";
import { freePort, type SpireHarness, startSpire } from "../../local/spireHarness";
import type { RenderResult } from "../../render/runtime";
import { renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are edited as plain JSON.
type Json = any;

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const AGENT = `${TD}/ns/spire/sa/spire-agent`;
const GATEWAY = `${TD}/gateway`;
const BLUE_LISTENER = "listener.0.0.0.0_15000";

/** Through a gateway's listener, as the stack's gatewayCurl does: /color with the colour header. */
const viaGateway = async (url: string, color: string) =>
  outcome(await probe(`${url}/color`, { headers: { color_header: color } }));

describe("the local mesh on real SPIRE: the ingress gateway's security", function () {
  this.timeout(180_000);
  let spire: SpireHarness;
  let mesh: LocalMesh;
  let dev: RenderResult;
  const stat = async (workload: string, name: string) =>
    statValue(await mesh.admin(workload, "/stats"), name);

  /** A copy of the rendered gateway in this process (this test's uid holds its identity): its own ports. */
  async function gatewayCopy(bootstrap: Json, endpoints: Record<string, string>) {
    const place: Placement = {
      agentSocket: spire.agentSocket,
      ingressPort: await freePort(),
      readinessPort: await freePort(),
      adminPort: await freePort(),
      egress: {},
      endpoints,
    };
    const sidecar = new Sidecar(sidecarPlan(bootstrap), place);
    await sidecar.start();
    await sidecar.whenLive;
    const admin = async (p: string) => (await fetch(`http://127.0.0.1:${place.adminPort}${p}`)).text();
    return { sidecar, url: `http://127.0.0.1:${place.ingressPort}`, admin };
  }

  before(async () => {
    dev = await renderStack("dev", { gateway: "true" });
    spire = await startSpire({ agentAlias: AGENT });
    mesh = await startLocalMesh(spire, dev);
    // Everything the stack registers but the gateway, and green (the walkthrough's registerGreen step).
    registerLocally(spire, dev, mesh, (id) => id !== GATEWAY);
  });
  after(async () => {
    await mesh?.stop();
    await spire?.stop();
  });

  it("an unregistered gateway is denied: it holds no SVID, opens no listener, and no target counted a handshake", async () => {
    await delay(2000);
    assert.equal(await mesh.admin("gateway", "/ready"), "INITIALIZING\n");
    const before = await stat("blue", `${BLUE_LISTENER}.ssl.handshake`);
    assert.equal(await viaGateway(mesh.ingressUrl("gateway"), "blue"), "ECONNREFUSED");
    assert.equal(await stat("blue", `${BLUE_LISTENER}.ssl.handshake`), before);
  });

  it("registered, it reaches blue and red over mTLS with its own SVID, counted on both sides", async () => {
    registerLocally(spire, dev, mesh, (id) => id === GATEWAY);
    const deadline = Date.now() + 45_000;
    while ((await viaGateway(mesh.ingressUrl("gateway"), "blue")) !== 200) {
      if (Date.now() > deadline) throw new Error("the gateway never reached blue");
      await delay(300);
    }
    for (const color of ["blue", "red"]) {
      const r = await probe(`${mesh.ingressUrl("gateway")}/color`, { headers: { color_header: color } });
      assert.deepEqual(r, { status: 200, body: color });
      assert.ok((await stat(color, `${BLUE_LISTENER}.ssl.handshake`)) > 0, color);
    }
    const stats = await mesh.admin("gateway", "/stats");
    assert.ok(
      statValue(
        stats,
        "cluster.cds_egress_howto-k8s-mtls-sds-based_red_howto-k8s-mtls-sds-based_http_8080.ssl.handshake",
      ) > 0,
    );
  });

  it("a gateway with a wrong SAN is denied: the same bootstrap under an identity the colours do not admit", async () => {
    const rogue = `${TD}/ns/howto-k8s-mtls-sds-based/sa/gateway`;
    await holdIdentity(spire, rogue, AGENT);
    const bootstrap = JSON.parse(
      JSON.stringify(mesh.workloads.gateway.bootstrap).replaceAll(`"${GATEWAY}"`, `"${rogue}"`),
    );
    const copy = await gatewayCopy(bootstrap, { ...mesh.workloads.gateway.placement.endpoints });
    try {
      const before = await stat("blue", `${BLUE_LISTENER}.ssl.fail_verify_san`);
      assert.equal(await viaGateway(copy.url, "blue"), 503);
      // Its health checks are refused the same way, so the counter may have moved more than once.
      const after = await stat("blue", `${BLUE_LISTENER}.ssl.fail_verify_san`);
      assert.ok(after > before, `blue counted no SAN mismatch (${before} -> ${after})`);
      assert.match(await copy.admin("/certs"), new RegExp(`"uri": "${rogue}"`), "it did hold an SVID");
    } finally {
      copy.sidecar.stop();
    }
  });

  it("a target presenting the wrong SAN is refused by the gateway: red's sidecar answering for blue", async () => {
    await holdIdentity(spire, GATEWAY, AGENT);
    const endpoints = { ...mesh.workloads.gateway.placement.endpoints };
    const blue = Object.keys(endpoints).find((e) => e.startsWith("color-blue."));
    const red = Object.keys(endpoints).find((e) => e.startsWith("color-red."));
    assert.ok(blue && red, Object.keys(endpoints).join());
    endpoints[blue] = endpoints[red];
    const copy = await gatewayCopy(mesh.workloads.gateway.bootstrap, endpoints);
    try {
      assert.equal(await viaGateway(copy.url, "red"), 200, "red itself is reachable");
      assert.equal(await viaGateway(copy.url, "blue"), 503);
      const blueCluster = "cds_egress_howto-k8s-mtls-sds-based_blue_howto-k8s-mtls-sds-based_http_8080";
      assert.ok(statValue(await copy.admin("/stats"), `cluster.${blueCluster}.ssl.fail_verify_san`) > 0);
    } finally {
      copy.sidecar.stop();
    }
  });

  it("a workload its routes do not name is unreachable through it: front, by path or by Host", async () => {
    const url = mesh.ingressUrl("gateway");
    assert.equal(await viaGateway(url, "blue"), 200, "the gateway is up");
    for (const path of ["/", "/front", "/ping"]) {
      assert.equal(outcome(await probe(`${url}${path}`, { headers: { color_header: "blue" } })), 404, path);
    }
    const frontHost = { host: "front.howto-k8s-mtls-sds-based.svc.cluster.local:8080" };
    assert.equal(outcome(await probe(`${url}/`, { headers: frontHost })), 404);
    assert.doesNotMatch(await mesh.admin("gateway", "/clusters"), /_front_/, "it has no cluster for front");
  });
});
