/**
 * The security matrix extended to the ingress gateway (issue 13), on loopback with real SVIDs: the dev stack with
 * gateway=true, its gateway running its rendered bootstrap like every sidecar. What must be denied: a gateway
 * without its entry, a gateway whose SVID the targets do not admit, a target presenting the wrong SAN to the
 * gateway, and any workload its routes do not name. And the positive control: registered, it reaches blue and
 * red over mTLS.
 */
import * as assert from "node:assert/strict";
import { adminGet, newAdminSocketPath } from "../../local/adminSocket";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../../local/mesh";
import { holdIdentity, outcome, probe } from "../../local/meshClient";
import { freePort } from "../../local/ports";
import { type Placement, Sidecar } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS, waitUntil } from "../../local/waitUntil";
import type { RenderResult } from "../../render/runtime";
import { renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are edited as plain JSON.
type Json = any;

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const AGENT = `${TD}/ns/spire/sa/spire-agent`;
const GATEWAY = `${TD}/gateway`;
/** Every colour's ingress listener (they all render 0.0.0.0:15000). */
const COLOR_LISTENER = "listener.0.0.0.0_15000";
const cluster = (color: string) =>
  `cds_egress_howto-k8s-mtls-sds-based_${color}_howto-k8s-mtls-sds-based_http_8080`;
/** Envoy's body for a 503 whose upstream connection failed or was reset: the sidecar relays it. */
const UPSTREAM_RESET = "upstream connect error or disconnect/reset before headers";

/** Through a gateway's listener, as the stack's gatewayCurl does: /color with the colour header. */
const viaGateway = async (url: string, color: string) =>
  outcome(await probe(`${url}/color`, { headers: { color_header: color } }));

describe("the local mesh on real SPIRE: the ingress gateway's security", function () {
  // Above the bounded waits inside (PROPAGATION_MS each), so a slow machine fails with their message.
  this.timeout(2 * PROPAGATION_MS + 60_000);
  let spire: SpireHarness;
  let mesh: LocalMesh;
  let dev: RenderResult;
  const stat = async (workload: string, name: string) =>
    statValue(await mesh.admin(workload, "/stats"), name);
  const peers = async (admin: (p: string) => Promise<string>) =>
    JSON.parse(await admin("/peers")) as { peers: string[]; tlsErrors: Record<string, string> };
  /** Until the gateway at `url` answers 200 for `color`: that colour's own route, not a neighbour's. */
  const untilReached = (url: string, color: string) =>
    waitUntil(
      `${color} answering through the gateway at ${url}`,
      () => viaGateway(url, color),
      (status) => status === 200,
    );

  /**
   * A copy of the rendered gateway in this process (this test's uid holds its identity): its own ports, and no
   * active health checks, so every handshake its targets count is one of the test's requests.
   */
  async function gatewayCopy(rendered: Json, endpoints: Record<string, string>) {
    const bootstrap = structuredClone(rendered);
    for (const c of bootstrap.static_resources.clusters) delete c.health_checks;
    const place: Placement = {
      agentSocket: spire.agentSocket,
      ingressPort: await freePort(),
      readinessPort: await freePort(),
      adminSocket: newAdminSocketPath(),
      egress: {},
      endpoints,
    };
    const sidecar = new Sidecar(sidecarPlan(bootstrap), place);
    await sidecar.start();
    await sidecar.whenLive;
    const admin = async (p: string) => (await adminGet(place.adminSocket, p)).body;
    return { sidecar, url: `http://127.0.0.1:${place.ingressPort}`, admin };
  }

  before(async () => {
    dev = await renderStack("dev", { gateway: "true" });
    spire = await startSpire({ agentAlias: AGENT });
    mesh = await startLocalMesh(spire, dev);
    // Everything the stack registers but the gateway; each registered workload is awaited on its own readiness.
    const registered = registerLocally(spire, dev, mesh, (id) => id !== GATEWAY);
    const workloads = Object.values(mesh.workloads).filter((w) => registered.includes(w.identity));
    assert.deepEqual(workloads.map((w) => w.name).sort(), ["blue", "front", "red"]);
    await Promise.all(workloads.map((w) => mesh.whenLive(w.name)));
  });
  after(async () => {
    await mesh?.stop();
    await spire?.stop();
  });

  it("an unregistered gateway is denied: it holds no SVID, opens no listener, and no target counted a handshake", async () => {
    // Not a sleep: the agent already serves the entries registered beside the gateway's (before), and now it
    // refuses the gateway's own SVID request, twice after that, so the refusal is the agent's answer.
    const refusals = async () => stat("gateway", `sds.${GATEWAY}.update_rejected`);
    const refusedBefore = await refusals();
    await waitUntil(
      "the agent to refuse the gateway's SDS request for its SVID twice more",
      refusals,
      (n) => n >= refusedBefore + 2,
    );
    assert.equal(await mesh.admin("gateway", "/ready"), "INITIALIZING\n");
    assert.doesNotMatch(await mesh.admin("gateway", "/certs"), /"uri"/, "it holds no SVID");
    assert.equal(await viaGateway(mesh.ingressUrl("gateway"), "blue"), "ECONNREFUSED");
    for (const color of ["blue", "red"]) {
      const seen = (await peers((p) => mesh.admin(color, p))).peers;
      assert.ok(!seen.includes(`ingress ${GATEWAY}`), `${color} saw the gateway: ${seen}`);
    }
  });

  it("registered, it reaches blue and red over mTLS with its own SVID, counted on both sides", async () => {
    assert.deepEqual(
      registerLocally(spire, dev, mesh, (id) => id === GATEWAY),
      [GATEWAY],
    );
    await mesh.whenLive("gateway");
    const url = mesh.ingressUrl("gateway");
    for (const color of ["blue", "red"]) {
      await untilReached(url, color);
      const r = await probe(`${url}/color`, { headers: { color_header: color } });
      assert.deepEqual(r, { status: 200, body: color });
      // The target's side: it verified the gateway's own SPIFFE ID (front's health checks handshake too, so a
      // handshake count alone would not say who).
      const seen = (await peers((p) => mesh.admin(color, p))).peers;
      assert.ok(seen.includes(`ingress ${GATEWAY}`), `${color} saw ${seen}`);
      // The gateway's side: its cluster for that colour completed the mTLS handshake.
      assert.ok((await stat("gateway", `cluster.${cluster(color)}.ssl.handshake`)) > 0, color);
    }
  });

  it("a gateway with a wrong SAN is denied: the same bootstrap under an identity the colours do not admit", async () => {
    const rogue = `${TD}/ns/howto-k8s-mtls-sds-based/sa/gateway`;
    await holdIdentity(spire, rogue, AGENT);
    const bootstrap = JSON.parse(
      JSON.stringify(mesh.workloads.gateway.bootstrap).replaceAll(`"${GATEWAY}"`, `"${rogue}"`),
    );
    const copy = await gatewayCopy(bootstrap, { ...mesh.workloads.gateway.placement.endpoints });
    try {
      assert.match(await copy.admin("/certs"), new RegExp(`"uri": "${rogue}"`), "it did hold an SVID");
      const counters = async () => ({
        san: await stat("blue", `${COLOR_LISTENER}.ssl.fail_verify_san`),
        chain: await stat("blue", `${COLOR_LISTENER}.ssl.fail_verify_error`),
        connectionError: await stat("blue", `${COLOR_LISTENER}.ssl.connection_error`),
      });
      const before = await counters();
      // Blue completes the handshake (the SVID chains to the bundle), then drops the peer for its SAN: a reset.
      assert.deepEqual(await probe(`${copy.url}/color`, { headers: { color_header: "blue" } }), {
        status: 503,
        body: UPSTREAM_RESET,
      });
      // The copy runs no health checks: this request is the one SAN mismatch blue counts.
      const after = await counters();
      assert.equal(after.san, before.san + 1, "blue counted the request's SAN mismatch");
      assert.equal(after.chain, before.chain, "blue refused it for its SAN, not its chain");
      assert.equal(after.connectionError, before.connectionError, "the handshake itself succeeded");
      assert.ok((await peers((p) => mesh.admin("blue", p))).peers.includes(`ingress ${rogue}`));
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
      await untilReached(copy.url, "red");
      const sanFailures = async () =>
        statValue(await copy.admin("/stats"), `cluster.${cluster("blue")}.ssl.fail_verify_san`);
      const before = await sanFailures();
      assert.deepEqual(await probe(`${copy.url}/color`, { headers: { color_header: "blue" } }), {
        status: 503,
        body: UPSTREAM_RESET,
      });
      assert.equal(await sanFailures(), before + 1, "the gateway counted the SAN mismatch on blue's cluster");
      const reason = (await peers(copy.admin)).tlsErrors[cluster("blue")];
      assert.match(reason ?? "", new RegExp(`server SANs ${TD}/colorred not in ${TD}/colorblue`), reason);
    } finally {
      copy.sidecar.stop();
    }
  });

  it("a workload its routes do not name is unreachable through it: front, by path, by header or by Host", async () => {
    const url = mesh.ingressUrl("gateway");
    assert.equal(await viaGateway(url, "blue"), 200, "the gateway is up");
    for (const path of ["/", "/front", "/ping"]) {
      assert.equal(outcome(await probe(`${url}${path}`, { headers: { color_header: "blue" } })), 404, path);
    }
    assert.equal(await viaGateway(url, "front"), 404, "a routed path with a colour no route names");
    // A routed path and header with front's Host: the route's own target answers (its Host rewritten), not front.
    const frontHost = { host: "front.howto-k8s-mtls-sds-based.svc.cluster.local:8080", color_header: "blue" };
    assert.deepEqual(await probe(`${url}/color`, { headers: frontHost }), { status: 200, body: "blue" });
    const frontSaw = (await peers((p) => mesh.admin("front", p))).peers;
    assert.ok(!frontSaw.includes(`ingress ${GATEWAY}`), `front saw the gateway: ${frontSaw}`);
    assert.doesNotMatch(await mesh.admin("gateway", "/clusters"), /_front_/, "it has no cluster for front");
  });
});
