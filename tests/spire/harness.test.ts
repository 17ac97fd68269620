/**
 * The SPIRE test harness itself: it starts a healthy server and agent, serves a workload SVID, survives
 * restarts, and never leaves a process behind, not even when a test fails without stopping it. And a rendered
 * server.conf under the harness: only its platform changes.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { parse as parseHcl } from "@cdktf/hcl2json";
import { loopbackServerConf, type RenderedServerConf } from "../../local/loopbackServerConf";
import { freePort } from "../../local/ports";
import { type SpireHarness, spireBinary, startSpire } from "../../local/spireHarness";
import type { ServerPlatform } from "../../spire/config";
import { block, plugin } from "../../spire/hcl";
import { kubernetesObjects, renderStack } from "../support/render";

const REPO_ROOT = path.resolve(__dirname, "../..");
const FIXTURE = "tests/fixtures/harness-failing.fixture.ts";

/** PIDs whose command line mentions `text` (pgrep -f never lists itself). */
function pidsMentioning(text: string): number[] {
  const r = spawnSync("pgrep", ["-f", text], { encoding: "utf8" });
  if (r.error) throw new Error(`pgrep: ${r.error.message}`);
  return r.stdout.split("\n").filter(Boolean).map(Number);
}

/** SIGKILL is asynchronous: give the kernel (a loaded one too) time to reap before calling a process a survivor. */
async function survivors(text: string, graceMs = 30_000): Promise<number[]> {
  const deadline = Date.now() + graceMs;
  let pids = pidsMentioning(text);
  while (pids.length > 0 && Date.now() < deadline) {
    await delay(100);
    pids = pidsMentioning(text);
  }
  return pids;
}

describe("SPIRE test harness", function () {
  // Above the harness's own bounded waits (PROPAGATION_MS), so a slow start fails with their message.
  this.timeout(300_000);
  let spire: SpireHarness;
  const workloadId = "spiffe://howto-k8s-mtls-sds-based.aws/harness-workload";
  const nodeAlias = "spiffe://howto-k8s-mtls-sds-based.aws/ns/spire/sa/spire-agent";

  before(async () => {
    spire = await startSpire({ agentAlias: nodeAlias });
  });

  after(async () => {
    await spire?.stop();
  });

  it("starts a healthy server and agent whose only entry is the agent alias", () => {
    const server = spire.server(["healthcheck"]);
    assert.equal(server.status, 0, server.stderr);
    assert.match(server.stdout, /Server is healthy\./);
    const agent = spawnSync(spire.agentBin, ["healthcheck", "-socketPath", spire.agentSocket], {
      encoding: "utf8",
    });
    assert.equal(agent.status, 0, agent.stderr);
    assert.match(agent.stdout, /Agent is healthy\./);

    const agents = JSON.parse(spire.server(["agent", "list", "-output", "json"]).stdout) as {
      agents: { id: { path: string }; attestation_type: string }[];
    };
    assert.deepEqual(
      agents.agents.map((a) => [a.attestation_type, a.id.path]),
      [["join_token", new URL(spire.agentId).pathname]],
    );
    const entries = spire.entries();
    assert.equal(entries.length, 1);
    assert.equal(`spiffe://${entries[0].spiffe_id.trust_domain}${entries[0].spiffe_id.path}`, nodeAlias);
    assert.deepEqual(entries[0].selectors, [{ type: "spiffe_id", value: spire.agentId }]);
  });

  it("hands a registered workload its X509-SVID through the agent", async () => {
    const created = spire.server([
      "entry",
      "create",
      "-parentID",
      nodeAlias,
      "-spiffeID",
      workloadId,
      "-selector",
      spire.workloadSelector,
    ]);
    assert.equal(created.status, 0, created.stderr);
    const fetched = await spire.fetchX509();
    assert.deepEqual(fetched.spiffeIds, [workloadId]);
    const svid = new X509Certificate(fs.readFileSync(fetched.svidPaths[0]));
    assert.equal(svid.subjectAltName, `URI:${workloadId}`);
    // The SVID chains to the bundle the agent was given.
    assert.ok(svid.verify(new X509Certificate(fs.readFileSync(fetched.bundlePath)).publicKey));
  });

  it("a restarted agent keeps its identity without a new join token", async () => {
    await spire.restartAgent();
    assert.deepEqual((await spire.fetchX509()).spiffeIds, [workloadId]);
    assert.match(fs.readFileSync(path.join(spire.dataDir, "agent.log"), "utf8"), /SVID loaded/);
  });

  it("a restarted server keeps its entries", async () => {
    const before = spire.entries();
    await spire.restartServer();
    assert.deepEqual(spire.entries(), before);
  });

  it("a missing binary fails with the install command", () => {
    assert.throws(
      () => spireBinary("spire-server", path.join(REPO_ROOT, "no-such-dir")),
      /spire-server not found at .*no-such-dir\/spire-server: run bash scripts\/install-spire\.sh/,
    );
  });

  it("a test that fails without stopping the harness leaves no SPIRE process behind", async () => {
    const mocha = require.resolve("mocha/bin/mocha.js");
    const child = spawnSync(
      process.execPath,
      [
        mocha,
        "--no-config",
        "--require",
        "ts-node/register",
        "--require",
        "tests/setup.ts",
        "--timeout",
        "60000",
        FIXTURE,
      ],
      { cwd: REPO_ROOT, encoding: "utf8", timeout: 240_000 },
    );
    const dir = /^HARNESS_DIR=(\S+)$/m.exec(child.stdout)?.[1];
    assert.ok(dir, `the fixture never started the harness:\n${child.stdout}\n${child.stderr}`);
    try {
      assert.notEqual(child.status, 0, "the fixture's test should have failed");
      assert.match(child.stdout, /deliberate failure/);
      assert.deepEqual(await survivors(dir), [], `processes left running from ${dir}`);
    } finally {
      // Whatever the verdict, nothing may outlive this test: end any survivor, then drop its directory.
      for (const pid of pidsMentioning(dir)) process.kill(pid, "SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // Last on purpose: it stops this file's harness (the after hook's stop() is then a no-op).
  it("stop() ends the server and agent and removes the temp dir", async () => {
    assert.ok(pidsMentioning(spire.dataDir).length >= 2, "server and agent should be running before stop()");
    await spire.stop();
    assert.deepEqual(await survivors(spire.dataDir), []);
    assert.equal(fs.existsSync(spire.dataDir), false);
  });
});

describe("a rendered server.conf under the SPIRE test harness (examples/federation west)", function () {
  this.timeout(60_000);
  const PROJECT = path.resolve(REPO_ROOT, "examples", "federation");
  // biome-ignore lint/suspicious/noExplicitAny: hcl2json gives plain JSON.
  type Conf = any;
  let text: string;

  before(async () => {
    const confs = kubernetesObjects(await renderStack("west", {}, PROJECT)).filter(
      (o) => o.kind === "ConfigMap" && o.data?.["server.conf"],
    );
    assert.equal(confs.length, 1);
    text = confs[0].data["server.conf"];
  });

  const platform: ServerPlatform = {
    bindAddress: "127.0.0.1",
    bindPort: 18081,
    dataDir: "/tmp/harness-test/data",
    socketPath: "/tmp/harness-test/s/api.sock",
    healthBindAddress: "127.0.0.1",
    healthPort: 18080,
    nodeAttestors: [plugin("NodeAttestor", "join_token")],
    notifiers: [],
    extraServer: [block("ratelimit", [], [["attestation", false]])],
    upstreamCaDir: "/tmp/harness-test/upstream",
    bundleEndpointAddress: "127.0.0.1",
    telemetryHost: "127.0.0.1",
  };
  const east = { "east.example": "https://127.0.0.1:18443" };
  const loopback = (rendered: Partial<RenderedServerConf> = {}, trustDomain = "west.example") =>
    loopbackServerConf(
      { text, bundleEndpointPort: 18444, peerBundleEndpoints: east, ...rendered },
      trustDomain,
      platform,
    );

  it("changes exactly the platform: paths, listeners, node attestor, notifier, the peer's URL; the rest as rendered", async () => {
    const before: Conf = await parseHcl("rendered.conf", text);
    const after: Conf = await parseHcl(
      "loopback.conf",
      await loopback({ timing: { bundleRefreshHint: "1m" } }),
    );
    const [server, rendered] = [after.server[0], before.server[0]];
    const [endpoint, peer] = [
      server.federation[0].bundle_endpoint[0],
      server.federation[0].federates_with["east.example"][0],
    ];
    const [plugins, renderedPlugins] = [after.plugins[0], before.plugins[0]];
    // What the render has and the harness cannot run: Kubernetes node attestation and the bundle ConfigMap.
    assert.deepEqual(Object.keys(renderedPlugins.NodeAttestor), ["k8s_psat"]);
    assert.deepEqual(Object.keys(renderedPlugins.Notifier), ["k8sbundle"]);
    assert.equal(rendered.trust_domain, "west.example");
    assert.deepEqual(
      [server.bind_address, server.bind_port, server.socket_path, server.data_dir, server.ratelimit],
      ["127.0.0.1", "18081", platform.socketPath, platform.dataDir, [{ attestation: false }]],
    );
    assert.deepEqual(
      [after.health_checks[0].bind_address, after.health_checks[0].bind_port],
      ["127.0.0.1", "18080"],
    );
    assert.deepEqual([endpoint.address, endpoint.port, endpoint.refresh_hint], ["127.0.0.1", 18444, "1m"]);
    assert.equal(peer.bundle_endpoint_url, "https://127.0.0.1:18443");
    assert.deepEqual(plugins.NodeAttestor, { join_token: [{ plugin_data: [{}] }] });
    assert.equal(plugins.Notifier, undefined);
    assert.equal(
      plugins.DataStore.sql[0].plugin_data[0].connection_string,
      `${platform.dataDir}/datastore.sqlite3`,
    );
    assert.equal(plugins.KeyManager.disk[0].plugin_data[0].keys_path, `${platform.dataDir}/keys.json`);

    // Everything not named above is the rendered config, untouched.
    for (const conf of [before, after]) {
      const s = conf.server[0];
      for (const key of ["bind_address", "bind_port", "socket_path", "data_dir", "ratelimit"]) delete s[key];
      const f = s.federation[0];
      for (const key of ["address", "port", "refresh_hint"]) delete f.bundle_endpoint[0][key];
      delete f.federates_with["east.example"][0].bundle_endpoint_url;
      delete conf.health_checks[0].bind_address;
      delete conf.health_checks[0].bind_port;
      const p = conf.plugins[0];
      for (const key of ["NodeAttestor", "Notifier"]) delete p[key];
      delete p.DataStore.sql[0].plugin_data[0].connection_string;
      delete p.KeyManager.disk[0].plugin_data[0].keys_path;
    }
    assert.deepEqual(after, before);
  });

  it("refuses a federated peer without a loopback URL, a URL for a domain it does not federate with, another trust domain", async () => {
    await assert.rejects(
      loopback({ peerBundleEndpoints: {} }),
      /federates with east\.example: give its loopback bundle endpoint URL/,
    );
    await assert.rejects(
      loopback({ peerBundleEndpoints: { ...east, "north.example": "https://127.0.0.1:1" } }),
      /peerBundleEndpoints names north\.example, which the rendered server.conf does not federate with/,
    );
    await assert.rejects(
      loopback({}, "east.example"),
      /rendered server.conf is for trust domain west\.example, the harness for east\.example/,
    );
  });

  it("starts a healthy server from it, whose agent attests with a join token", async () => {
    const spire = await startSpire({
      settings: { trustDomain: "west.example" },
      renderedServerConf: { text, bundleEndpointPort: await freePort(), peerBundleEndpoints: east },
    });
    try {
      const agents = JSON.parse(spire.server(["agent", "list", "-output", "json"]).stdout);
      assert.deepEqual(
        agents.agents.map((a: { attestation_type: string }) => a.attestation_type),
        ["join_token"],
      );
      assert.match(
        fs.readFileSync(path.join(spire.dataDir, "server.conf"), "utf8"),
        /federates_with "east.example"/,
      );
    } finally {
      await spire.stop();
    }
  });
});
