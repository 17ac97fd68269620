/**
 * SPIFFE federation on loopback, for real: two spire-server 1.13.3 (trust domains east.example and west.example),
 * one agent each, each server running the server.conf that examples/federation's stack renders (its federation
 * block included: https_spiffe, the peer's endpoint ID from the StackReference), with paths, listeners and node
 * attestation moved to loopback and each peer's bundle endpoint URL pointed at the other's free port; and the
 * workloads of examples/federation behind the loopback sidecars. Bundles are exchanged by the same `bundle show`/`bundle set` plans SpireInstallation's commands
 * run. Proves: west's caller completes mTLS to east's greeter and each side sees the other's exact SPIFFE ID;
 * without federatesWith on the entry, or without the relationship, it fails with the reason; after east's CA
 * rotates (ca_ttl 90s), west keeps connecting, and how long the new root takes to reach west.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as tls from "node:tls";
import { type LocalMesh, registerLocally, startLocalMesh } from "../../local/mesh";
import { freePort } from "../../local/ports";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS } from "../../local/waitUntil";
import type { RenderResult } from "../../render/runtime";
import { bundleCommands, bundlePlans } from "../../spire/bundles";
import { entryCommands, entryPlans, type ResolvedEntry } from "../../spire/entries";
import { kubernetesObjects, renderStack } from "../support/render";

/** A recorded resource's input, failing loudly when the resource is missing. */
function createOf(r: { inputs: Record<string, unknown> } | undefined): string {
  if (!r) throw new Error("resource not rendered");
  return (r.inputs as { create: string }).create;
}

const PROJECT = path.resolve(__dirname, "..", "..", "examples", "federation");
const BUNDLE_RUNNER = path.resolve(__dirname, "..", "..", "bin", "spire-bundle.js");
const ENTRY_RUNNER = path.resolve(__dirname, "..", "..", "bin", "spire-entry.js");
/** Calls the rotation test must have made: about two a second across a CA's prepare-to-activate span. */
const MIN_CALLS = 30;
const CALLER = "spiffe://west.example/ns/west/sa/caller";
const GREETER = "spiffe://east.example/ns/east/sa/greeter";

/** Runs one bin/spire-bundle.js plan; returns stdout, or throws with stderr. */
function runBundlePlan(plan: string): string {
  const r = spawnSync(process.execPath, [BUNDLE_RUNNER, plan], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) throw new Error(r.stderr.trim());
  return r.stdout;
}

const plansFor = (spire: SpireHarness) => bundlePlans(bundleCommands([spire.serverBin], spire.serverSocket));

/** The alias the render's node entry gives the agents (their workload entries' parent). */
function agentAlias(render: RenderResult): string {
  const nodeEntry = render.resources.find((r) => r.name === "agents-entry");
  return JSON.parse(createOf(nodeEntry)).expect.spiffeId;
}

/** The server.conf of the render's one SPIRE server ConfigMap. */
function renderedServerConf(render: RenderResult): string {
  const confs = kubernetesObjects(render).filter((o) => o.kind === "ConfigMap" && o.data?.["server.conf"]);
  assert.equal(confs.length, 1, "one server.conf in the render");
  return confs[0].data["server.conf"];
}

/** A workload's entry as rendered, with the local mesh's uid selector (as registerLocally makes it). */
function renderedEntry(render: RenderResult, name: string, uid: number): ResolvedEntry {
  const command = render.resources.find((r) => r.name === `${name}-entry`);
  const entry = JSON.parse(createOf(command)).expect as ResolvedEntry;
  return { ...entry, selectors: [{ type: "unix", value: `uid:${uid}` }] };
}

/** Runs an entry plan (create or update) as SpireEntry's command would; returns the runner's result. */
function runEntryStep(spire: SpireHarness, entry: ResolvedEntry, step: "create" | "update") {
  const plans = entryPlans(entryCommands([spire.serverBin], entry, spire.serverSocket), entry);
  return spawnSync(process.execPath, [ENTRY_RUNNER, plans[step]], { encoding: "utf8", timeout: 30_000 });
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = PROPAGATION_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(250);
  }
}

/** West's caller relays GET / to east's greeter: the status and body. */
async function callGreeter(west: LocalMesh): Promise<{ status: number; body: string }> {
  const r = await fetch(`${west.ingressUrl("caller")}/`, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.text() };
}

const peersOf = async (mesh: LocalMesh, workload: string) =>
  JSON.parse(await mesh.admin(workload, "/peers")) as { peers: string[]; tlsErrors: Record<string, string> };

/** PEM certificates in a text. */
const certCount = (text: string) => (text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
const pemCertificates = (text: string) =>
  (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (pem) => new X509Certificate(pem),
  );

/**
 * The leaf a listener presents in its TLS handshake, read without credentials: the server sends its certificate
 * before it asks for the client's, so this works on a STRICT listener too (which then refuses the connection).
 */
function presentedLeaf(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false });
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no TLS handshake with port ${port}`)));
    socket.once("secureConnect", () => {
      const leaf = socket.getPeerX509Certificate();
      socket.destroy();
      if (leaf) resolve(leaf);
      else reject(new Error(`port ${port} presented no certificate`));
    });
    socket.on("error", reject);
  });
}

describe("SPIFFE federation between two real SPIRE 1.13.3 servers on loopback", function () {
  this.timeout(600_000);
  let east: SpireHarness;
  let west: SpireHarness;
  let eastMesh: LocalMesh | undefined;
  let westMesh: LocalMesh | undefined;
  let eastRender: RenderResult;
  let westRender: RenderResult;

  before(async () => {
    eastRender = await renderStack("east", {}, PROJECT);
    westRender = await renderStack("west", {}, PROJECT);
    const [eastPort, westPort] = [await freePort(), await freePort()];
    // Each server runs its stack's rendered server.conf; the peer's endpoint is the other's loopback port, and
    // a 1m refresh hint (SPIRE's default is 5m) keeps the rotation measurement inside the test.
    const rendered = (render: RenderResult, own: number, peer: string, peerPort: number, timing = {}) => ({
      text: renderedServerConf(render),
      bundleEndpointPort: own,
      peerBundleEndpoints: { [peer]: `https://127.0.0.1:${peerPort}` },
      timing: { bundleRefreshHint: "1m", ...timing },
    });
    // East's CA lives 90 s: it prepares the next CA at half-life and activates it at five sixths.
    east = await startSpire({
      agentAlias: agentAlias(eastRender),
      settings: { trustDomain: "east.example", agentSyncInterval: "1s" },
      renderedServerConf: rendered(eastRender, eastPort, "west.example", westPort, {
        caTtl: "90s",
        x509SvidTtl: "15s",
      }),
    });
    west = await startSpire({
      agentAlias: agentAlias(westRender),
      settings: { trustDomain: "west.example", agentSyncInterval: "1s" },
      renderedServerConf: rendered(westRender, westPort, "east.example", eastPort),
    });
  });
  after(async () => {
    await eastMesh?.stop();
    await westMesh?.stop();
    await east?.stop();
    await west?.stop();
  });

  it("refuses a federating entry before the federation relationship holds the peer's bundle", () => {
    const r = runEntryStep(west, renderedEntry(westRender, "caller", 20001), "create");
    assert.notEqual(r.status, 0, "an entry federating with east must fail without east's bundle");
    assert.match(r.stderr, /unable to find federated bundle "spiffe:\/\/east\.example"/);
  });

  it("exchanges bundles with the component's bundle show and bundle set plans, public certificates only", () => {
    const eastBundle = runBundlePlan(plansFor(east).show);
    const westBundle = runBundlePlan(plansFor(west).show);
    for (const bundle of [eastBundle, westBundle]) {
      assert.doesNotMatch(bundle, /PRIVATE KEY|"d":/);
      assert.ok(JSON.parse(bundle).keys.some((k: { x5c?: string[] }) => k.x5c?.length));
    }
    assert.match(runBundlePlan(plansFor(west).set("east.example", eastBundle).create), /"outcome":"set"/);
    assert.match(runBundlePlan(plansFor(east).set("west.example", westBundle).create), /"outcome":"set"/);
    // A server refuses its own domain's bundle: the runner reports the server's reason.
    assert.throws(
      () => runBundlePlan(plansFor(west).set("west.example", westBundle).create),
      /own trust domain is not allowed/,
    );
    const listed = west.server(["bundle", "list", "-id", "spiffe://east.example", "-format", "pem"]);
    assert.equal(listed.status, 0, listed.stderr);
    assert.ok(certCount(listed.stdout) >= 1, "west holds east's roots");
  });

  it("west's caller completes mTLS to east's greeter, each side seeing the other's exact SPIFFE ID", async () => {
    eastMesh = await startLocalMesh(east, eastRender);
    assert.deepEqual(registerLocally(east, eastRender, eastMesh), [GREETER]);
    // Greeter's listener must hold its port before west's mesh picks free ports of its own.
    await eastMesh.whenLive("greeter");
    const greeterPort = eastMesh.workloads.greeter.placement.ingressPort;
    westMesh = await startLocalMesh(west, westRender, {
      "greeter.east.svc.cluster.local:8080": `127.0.0.1:${greeterPort}`,
    });
    assert.deepEqual(registerLocally(west, westRender, westMesh), [CALLER]);
    const mesh = westMesh;
    await mesh.whenLive("caller");
    const answer = await until("caller -> greeter over federated mTLS", async () => {
      const r = await callGreeter(mesh);
      return r.status === 200 ? r : undefined;
    }).catch(async (e: Error) => {
      const show = async (m: LocalMesh, w: string) =>
        `${w}: ${await m.admin(w, "/stats")}\n${await m.admin(w, "/peers")}\n${await m.admin(w, "/clusters")}`;
      throw new Error(
        `${e.message}\n${await show(mesh, "caller")}\n${await show(eastMesh as LocalMesh, "greeter")}`,
      );
    });
    assert.match(answer.body, /east\.example/, "greeter's own answer came back");
    const greeterSaw = await peersOf(eastMesh, "greeter");
    const callerSaw = await peersOf(westMesh, "caller");
    assert.deepEqual(greeterSaw.peers, [`ingress ${CALLER}`]);
    assert.deepEqual(
      callerSaw.peers.map((p) => p.split(" ").at(-1)),
      [GREETER],
      `caller saw ${callerSaw.peers}`,
    );
    // What the agent's SDS returned for ALL: one SPIFFE validator config with both trust domains.
    assert.match(await westMesh.admin("caller", "/stats"), /sds\.ALL\.trust_domains\.2: /);
    assert.match(await eastMesh.admin("greeter", "/stats"), /sds\.ALL\.trust_domains\.2: /);
  });

  it("fails, with the reason, once the caller's entry no longer federates with east, and recovers", async () => {
    const mesh = westMesh as LocalMesh;
    const entry = renderedEntry(westRender, "caller", mesh.workloads.caller.uid);
    const dropped = runEntryStep(west, { ...entry, federatesWith: [] }, "update");
    assert.equal(dropped.status, 0, dropped.stderr);
    const failed = await until("caller -> greeter to fail", async () => {
      const r = await callGreeter(mesh);
      return r.status === 503 ? r : undefined;
    });
    // The caller app's own 503 page relays the sidecar's failure; the reason is the sidecar's TLS error.
    assert.match(failed.body, /503/);
    const { tlsErrors } = await peersOf(mesh, "caller");
    const reason = Object.values(tlsErrors).join("; ");
    assert.match(reason, /certificate|no bundle for trust domain east\.example/, `reason: ${reason}`);
    console.log(`      without federatesWith: ${failed.status}, TLS error: ${reason}`);
    assert.match(await mesh.admin("caller", "/stats"), /sds\.ALL\.trust_domains\.1: /);

    const restored = runEntryStep(west, entry, "update");
    assert.equal(restored.status, 0, restored.stderr);
    await until("caller -> greeter to work again", async () =>
      (await callGreeter(mesh)).status === 200 ? true : undefined,
    );
  });

  it("keeps connecting across east's CA rotation, the greeter moving to the new root mid-traffic; east's new root reaches west within the refresh interval", async () => {
    const mesh = westMesh as LocalMesh;
    const greeterPort = (eastMesh as LocalMesh).workloads.greeter.placement.ingressPort;
    const eastBundle = () => pemCertificates(east.server(["bundle", "show", "-format", "pem"]).stdout);
    const eastRoots = () => eastBundle().length;
    const westCopy = () =>
      certCount(west.server(["bundle", "list", "-id", "spiffe://east.example", "-format", "pem"]).stdout);
    const oldRoots = eastBundle();
    const before = oldRoots.length;
    const rootOf = (leaf?: X509Certificate) =>
      !leaf ? "unknown" : oldRoots.some((root) => leaf.verify(root.publicKey)) ? "old" : "new";
    const failures: string[] = [];
    /** Per call: whether it succeeded, and whether the greeter then presented a leaf of a root older than the loop. */
    const calls: { ok: boolean; root: "old" | "new" | "unknown" }[] = [];
    let running = true;
    const traffic = (async () => {
      while (running) {
        const r = await callGreeter(mesh).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status !== 200) failures.push(`${r.status} ${r.body.slice(0, 80)}`);
        const leaf = await presentedLeaf(greeterPort).catch(() => undefined);
        calls.push({ ok: r.status === 200, root: rootOf(leaf) });
        await delay(500);
      }
    })();
    let [t0, inWest, moved] = [0, 0, -1];
    try {
      t0 = await until(
        "east to prepare its next CA",
        async () => (eastRoots() > before ? Date.now() : undefined),
        120_000,
      );
      inWest = await until(
        "west's copy of east's bundle to gain the root",
        async () => (westCopy() > before ? Date.now() : undefined),
        120_000,
      );
      // Activation (five sixths of ca_ttl), then the greeter's next SVID from the new CA: the calls that matter are
      // the ones after the greeter moved, so the loop runs until it has and then some.
      moved = await until("the greeter to present an SVID from east's new root", async () => {
        const i = calls.findIndex((c) => c.root === "new");
        return i >= 0 ? i : undefined;
      });
      const CALLS_AFTER_MOVE = 10;
      await until(`${CALLS_AFTER_MOVE} calls after the greeter moved`, async () =>
        calls.length >= moved + 1 + CALLS_AFTER_MOVE ? true : undefined,
      );
    } finally {
      // A failed wait must not leave the loop calling forever: mocha would never exit.
      running = false;
      await traffic;
    }
    const seconds = ((inWest - t0) / 1000).toFixed(1);
    console.log(
      `      east's new root reached west's server after ${seconds} s; ${calls.length} calls (greeter on the new ` +
        `root from call ${moved + 1}), ${failures.length} failed`,
    );
    assert.deepEqual(failures, [], "every call across the rotation succeeded");
    assert.equal(calls[0].root, "old", "the loop began with the greeter on a root east had before it");
    assert.ok(calls.length >= MIN_CALLS, `only ${calls.length} calls`);
    assert.deepEqual(
      calls.slice(moved).filter((c) => c.root === "old"),
      [],
      "once on the new root the greeter stays there",
    );
    // SPIRE polls a peer at a quarter of its refresh hint (1m here) after a successful fetch.
    assert.ok(
      inWest - t0 <= 60_000,
      `new root took ${seconds} s to reach west, more than the 1m refresh hint`,
    );
  });
});
