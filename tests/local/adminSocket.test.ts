/**
 * Envoy's admin interface is a Unix socket only Envoy's uid opens, never a TCP port of the pod: the rendered
 * bootstrap of blue, run by the loopback sidecar in a network namespace of its own (the pod's) under a uid of its
 * own, with SPIRE delivering its identity. From that namespace, as the app's uid: nothing listens on
 * 127.0.0.1:9901, the kubelet's readiness port reaches admin through the socket, and the socket refuses the app.
 */
import * as assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { adminGet, newAdminSocketPath } from "../../local/adminSocket";
import { renderedBootstrap, statValue, waitForLine } from "../../local/mesh";
import { inNewPodNetwork, inPodNetworkOf, listeningTcpPorts } from "../../local/podNetwork";
import { track } from "../../local/processes";
import type { Placement } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS } from "../../local/waitUntil";
import { adminReaderArgv } from "../../mesh/verification";
import { renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are read as plain JSON.
type Json = any;

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const AGENT = `${TD}/ns/spire/sa/spire-agent`;
/** Envoy's uid in the stand-in pod, and the app's: two containers of one pod. */
const ENVOY_UID = 20101;
const APP_UID = 20102;
const run = promisify(execFile);

/** Runs argv; its exit status and output, never a throw on a non-zero exit. */
async function outcome(argv: readonly string[]) {
  const [file, ...args] = argv;
  try {
    const { stdout, stderr } = await run(file, args, { encoding: "utf8", timeout: 30_000 });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code?: number; stdout?: string; stderr?: string };
    return { status: failed.code ?? -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** What the app's container sees: a program run as the app's uid in the pod's network namespace. */
const NODE_CONNECT = [
  "-e",
  'const s = require("net").connect(Number(process.argv[1]), "127.0.0.1");' +
    's.on("connect", () => { console.log("connected"); s.destroy(); });' +
    's.on("error", (e) => console.log(e.code));',
];
const NODE_GET = [
  "-e",
  "fetch(process.argv[1]).then(async (r) => console.log(JSON.stringify([r.status, await r.text()])));",
];

describe("the sidecar's admin interface is a Unix socket only Envoy's uid opens, never a TCP port of the pod", function () {
  this.timeout(PROPAGATION_MS + 120_000);
  let spire: SpireHarness;
  let sidecar: ChildProcess;
  let bootstrap: Json;
  let placement: Placement;
  /** Ports of the rendered listeners, which the sidecar binds as is inside the pod's namespace. */
  let readinessPort: number;
  let renderedPorts: number[];

  const asApp = (argv: readonly string[]) => outcome(inPodNetworkOf(sidecar.pid as number, APP_UID, argv));
  const readyFromApp = async () =>
    JSON.parse(
      (await asApp([process.execPath, ...NODE_GET, `http://127.0.0.1:${readinessPort}/ready`])).stdout,
    );

  before(async () => {
    const dev = await renderStack("dev");
    bootstrap = renderedBootstrap(dev, "blue");
    spire = await startSpire({ agentAlias: AGENT });
    const created = spire.server([
      "entry",
      "create",
      "-spiffeID",
      `${TD}/colorblue`,
      "-parentID",
      AGENT,
      "-selector",
      `unix:uid:${ENVOY_UID}`,
    ]);
    assert.equal(created.status, 0, created.stderr);
    // The sidecar's uid must reach the agent socket; the directory is traversable, not listable.
    fs.chmodSync(spire.dataDir, 0o711);
    const port = (prefix: string) =>
      bootstrap.static_resources.listeners.find((l: Json) => l.name.startsWith(prefix)).address.socket_address
        .port_value as number;
    readinessPort = port("lds_readiness_");
    renderedPorts = [port("lds_ingress_"), readinessPort].sort((a, b) => a - b);
    placement = {
      agentSocket: spire.agentSocket,
      ingressPort: port("lds_ingress_"),
      app: "127.0.0.1:8080",
      readinessPort,
      adminSocket: newAdminSocketPath(ENVOY_UID),
      egress: {},
      endpoints: {},
    };
    // As the kubelet makes an emptyDir: open to every uid that has it mounted, so only the socket's mode guards it.
    fs.chmodSync(path.dirname(placement.adminSocket), 0o777);
    const repo = path.resolve(__dirname, "../..");
    const [file, ...args] = inNewPodNetwork(ENVOY_UID, [
      process.execPath,
      "--require",
      require.resolve("ts-node/register/transpile-only"),
      path.join(repo, "local", "sidecarMain.ts"),
      JSON.stringify({ bootstrap, placement }),
    ]);
    sidecar = track(
      spawn(file, args, {
        cwd: repo,
        env: { ...process.env, HOME: "/tmp" },
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    // LIVE: blue's SVID and bundle arrived over SDS and its listeners are open.
    await waitForLine("blue's sidecar in its pod network", sidecar, /SIDECAR LIVE/);
  });
  after(async () => {
    sidecar?.kill("SIGKILL");
    await spire?.stop();
    if (placement) fs.rmSync(path.dirname(placement.adminSocket), { recursive: true, force: true });
  });

  it("in the pod's network namespace nothing listens on 127.0.0.1:9901, and no TCP port there serves admin", async () => {
    // The witness that the app's probe is in the pod: it reaches the sidecar's readiness port there.
    assert.deepEqual(await readyFromApp(), [200, "LIVE\n"]);
    const admin = await asApp([process.execPath, ...NODE_CONNECT, "9901"]);
    assert.equal(admin.stdout.trim(), "ECONNREFUSED", admin.stderr);
    // Every TCP port listening in the pod: the rendered listeners' and the stand-in's own TLS plumbing.
    const listening = listeningTcpPorts(sidecar.pid as number);
    for (const port of renderedPorts) assert.ok(listening.includes(port), `${port} in ${listening}`);
    assert.equal(listening.includes(9901), false);
    const adminPage = /^static_cluster_sds_unix_socket::/m;
    assert.match((await adminGet(placement.adminSocket, "/clusters")).body, adminPage, "what admin answers");
    for (const port of listening) {
      // A TLS port resets the plaintext GET (no output); any answer is [status, body].
      const answer = await asApp([process.execPath, ...NODE_GET, `http://127.0.0.1:${port}/clusters`]);
      const body = answer.stdout ? String(JSON.parse(answer.stdout)[1]) : "";
      assert.doesNotMatch(body, adminPage, `port ${port} serves the admin interface`);
    }
  });

  it("the socket is Envoy's: mode 0600 and Envoy's uid; the app's uid is refused, Envoy's reads admin with the walkthrough's reader", async () => {
    const socket = fs.statSync(placement.adminSocket);
    assert.ok(socket.isSocket());
    assert.equal((socket.mode & 0o777).toString(8), "600");
    assert.equal(socket.uid, ENVOY_UID);
    const read = (uid: number) =>
      outcome(
        inPodNetworkOf(sidecar.pid as number, uid, adminReaderArgv(placement.adminSocket, "/clusters")),
      );
    const asEnvoy = await read(ENVOY_UID);
    assert.equal(asEnvoy.status, 0, asEnvoy.stderr);
    // The reader decodes Envoy's chunked answer into exactly the admin's text.
    assert.equal(asEnvoy.stdout, (await adminGet(placement.adminSocket, "/clusters")).body);
    assert.match(asEnvoy.stdout, /^static_cluster_sds_unix_socket::/);
    const asTheApp = await read(APP_UID);
    assert.notEqual(asTheApp.status, 0);
    assert.match(asTheApp.stderr, /Permission denied/);
  });

  it("the kubelet's readiness route reaches admin through the socket: without the socket it answers 503", async () => {
    const viaAdmin = async () =>
      statValue(
        (await adminGet(placement.adminSocket, "/stats")).body,
        "cluster.envoy_admin.upstream_rq_200",
      );
    const before = await viaAdmin();
    assert.deepEqual(await readyFromApp(), [200, "LIVE\n"]);
    assert.equal(await viaAdmin(), before + 1, "the readiness answer came over the admin cluster");
    const away = `${placement.adminSocket}.away`;
    fs.renameSync(placement.adminSocket, away);
    try {
      const [status] = await readyFromApp();
      assert.equal(status, 503, "no admin socket, no readiness");
    } finally {
      fs.renameSync(away, placement.adminSocket);
    }
    assert.deepEqual(await readyFromApp(), [200, "LIVE\n"]);
  });
});
