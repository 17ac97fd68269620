import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as http from "node:http";
import type * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { appSources } from "../../app/sources";
import { freePort } from "../../local/ports";
import { track } from "../../local/processes";

// The real apps, run as child processes the way the pods run them: `node /app/<file>`.
const APP_DIR = path.resolve(__dirname, "../../app");
const COLOR_APP = path.join(APP_DIR, "color-app.js");
const FRONT_APP = path.join(APP_DIR, "front-app.js");

interface Reply {
  status: number;
  reason: string;
  body: string;
}

interface App extends Spawned {
  port: number;
}

interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

const children: ChildProcess[] = [];
const servers: http.Server[] = [];

afterEach(async () => {
  // Kill whatever a test left running, even when it failed half-way.
  await Promise.all(
    children.splice(0).map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGKILL");
      await exited;
    }),
  );
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

function request(
  port: number,
  urlPath: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; host?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: options.host ?? "127.0.0.1",
        port,
        path: urlPath,
        method: options.method ?? "GET",
        headers: options.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? "",
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.setTimeout(20000, () => req.destroy(new Error(`no answer from port ${port} in 20 s`)));
    req.on("error", reject);
    req.end();
  });
}

interface Spawned {
  child: ChildProcess;
  output(): string;
  /** Settles once the process has exited and its stdout and stderr are fully read. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnApp(file: string, env: Record<string, string>): Spawned {
  // argv only, no shell; env is exactly what the test gives, so nothing leaks in from the runner.
  // track() is the suite-wide safety net for a run that dies before afterEach gets to run.
  const child = track(spawn(process.execPath, [file], { env, stdio: ["ignore", "pipe", "pipe"] }));
  children.push(child);
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (text: string) => {
    output += text;
  });
  child.stderr?.setEncoding("utf8").on("data", (text: string) => {
    output += text;
  });
  const closed = once(child, "close").then(([code, signal]) => ({ code, signal }));
  // Most tests never await this; a spawn error must still fail the test, not crash mocha unhandled.
  closed.catch(() => undefined);
  return { child, output: () => output, closed };
}

/** Starts an app on a free port and resolves once its /ping answers 200. */
async function startApp(file: string, env: Record<string, string> = {}): Promise<App> {
  const port = await freePort();
  const spawned = spawnApp(file, { ...env, PORT: String(port) });
  const { child, output } = spawned;
  const deadline = Date.now() + 15000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${path.basename(file)} exited before answering /ping:\n${output()}`);
    }
    const ping = await request(port, "/ping").catch(() => undefined);
    if (ping?.status === 200) return { ...spawned, port };
    if (Date.now() > deadline) throw new Error(`${path.basename(file)} never answered /ping:\n${output()}`);
    await delay(50);
  }
}

/** A stand-in color service that records what front sends it and answers with the given status. */
async function recordingUpstream(status: number): Promise<{ port: number; seen: Recorded[] }> {
  const seen: Recorded[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    res.writeHead(status);
    res.end(`recorder answered ${status}`);
  });
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as net.AddressInfo).port, seen };
}

/**
 * An address of this machine other than 127.0.0.1: a non-loopback interface if there is one, else
 * 127.0.0.2, which Linux routes to the loopback interface like the rest of 127.0.0.0/8.
 */
function otherLocalAddress(): string {
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((nic) => nic !== undefined && nic.family === "IPv4" && !nic.internal);
  return external?.address ?? "127.0.0.2";
}

describe("color app", () => {
  it("answers /ping with 200 and an empty body", async () => {
    const app = await startApp(COLOR_APP, { COLOR: "blue" });
    const reply = await request(app.port, "/ping");
    assert.equal(reply.status, 200);
    assert.equal(reply.body, "");
  });

  it("answers any other path with its COLOR, utf-8 encoded", async () => {
    const app = await startApp(COLOR_APP, { COLOR: "grün" });
    for (const urlPath of ["/", "/anything", "/ping/x", "/ping?x=1"]) {
      const reply = await request(app.port, urlPath);
      assert.equal(reply.status, 200, urlPath);
      assert.equal(reply.body, "grün", urlPath);
    }
  });

  it("answers 'no color!' when COLOR is unset", async () => {
    const app = await startApp(COLOR_APP);
    assert.equal((await request(app.port, "/")).body, "no color!");
  });

  it("listens on PORT and logs its settings at startup", async () => {
    const app = await startApp(COLOR_APP, { COLOR: "red" });
    assert.match(app.output(), /^COLOR is red$/m);
    assert.match(app.output(), new RegExp(`^PORT is ${app.port}$`, "m"));
    assert.match(app.output(), new RegExp(`^listening on 0\\.0\\.0\\.0:${app.port}$`, "m"));
  });

  it("answers methods other than GET with 501", async () => {
    const app = await startApp(COLOR_APP, { COLOR: "blue" });
    for (const method of ["POST", "PUT", "DELETE", "HEAD"]) {
      const reply = await request(app.port, "/", { method });
      assert.equal(reply.status, 501, method);
      assert.equal(reply.reason, `Unsupported method ('${method}')`);
    }
  });

  it("with BIND_ADDRESS=127.0.0.1 is unreachable on the machine's other addresses", async () => {
    const other = otherLocalAddress();
    // Control: bound to every address, the app does answer on the other address.
    const open = await startApp(COLOR_APP, { COLOR: "blue" });
    assert.equal((await request(open.port, "/", { host: other })).status, 200);

    const bound = await startApp(COLOR_APP, { COLOR: "blue", BIND_ADDRESS: "127.0.0.1" });
    assert.match(bound.output(), new RegExp(`^listening on 127\\.0\\.0\\.1:${bound.port}$`, "m"));
    assert.equal((await request(bound.port, "/")).status, 200);
    await assert.rejects(request(bound.port, "/", { host: other }), { code: "ECONNREFUSED" });
  });

  it("exits with status 0 on SIGTERM", async () => {
    const app = await startApp(COLOR_APP, { COLOR: "blue" });
    app.child.kill("SIGTERM");
    assert.deepEqual(await app.closed, { code: 0, signal: null });
  });
});

describe("front app", () => {
  it("relays the real color app's answer, asking it for / whatever path it was asked", async () => {
    // Two colors, so a front that answered a fixed string could not pass.
    for (const color of ["blue", "red"]) {
      const colorApp = await startApp(COLOR_APP, { COLOR: color });
      const direct = await request(colorApp.port, "/");
      // localhost, not an IP, so front's DNS lookup has a name to resolve.
      const front = await startApp(FRONT_APP, { COLOR_HOST: `localhost:${colorApp.port}` });
      for (const urlPath of ["/", "/some/path"]) {
        const reply = await request(front.port, urlPath, { headers: { color_header: color } });
        assert.equal(reply.status, 200, urlPath);
        assert.equal(reply.body, direct.body, urlPath);
      }
      // Like the original, front logs what the name resolved to: IPv4, as the apps listen on IPv4 only.
      assert.match(front.output(), /^Trying to hit localhost\n127\.0\.0\.1$/m);
    }
  });

  it("answers /ping itself, with 200 and an empty body", async () => {
    const upstream = await recordingUpstream(200);
    const front = await startApp(FRONT_APP, { COLOR_HOST: `127.0.0.1:${upstream.port}` });
    const reply = await request(front.port, "/ping");
    assert.equal(reply.status, 200);
    assert.equal(reply.body, "");
    assert.deepEqual(upstream.seen, []);
  });

  it("sends GET / upstream with Host and color_header only", async () => {
    const upstream = await recordingUpstream(200);
    const colorHost = `127.0.0.1:${upstream.port}`;
    const front = await startApp(FRONT_APP, { COLOR_HOST: colorHost });
    const headers = { color_header: "red", "x-other": "1", authorization: "secret" };
    assert.equal((await request(front.port, "/some/path?q=1", { headers })).status, 200);
    assert.equal((await request(front.port, "/", { headers: { "x-other": "1" } })).status, 200);

    assert.equal(upstream.seen.length, 2);
    const [withHeader, withoutHeader] = upstream.seen;
    assert.equal(withHeader.method, "GET");
    assert.equal(withHeader.url, "/");
    assert.equal(withHeader.headers.host, colorHost);
    assert.equal(withHeader.headers.color_header, "red");
    // Nothing else from the incoming request: only Node's own "connection: close" joins them.
    assert.deepEqual(Object.keys(withHeader.headers).sort(), ["color_header", "connection", "host"]);
    assert.deepEqual(Object.keys(withoutHeader.headers).sort(), ["connection", "host"]);
  });

  it("passes an upstream non-2xx status through", async () => {
    for (const status of [503, 404]) {
      const upstream = await recordingUpstream(status);
      const front = await startApp(FRONT_APP, { COLOR_HOST: `127.0.0.1:${upstream.port}` });
      const reply = await request(front.port, "/", { headers: { color_header: "green" } });
      assert.equal(reply.status, status);
      assert.equal(upstream.seen.length, 1);
    }
  });

  it("answers 500 when nothing listens at COLOR_HOST", async () => {
    const front = await startApp(FRONT_APP, { COLOR_HOST: `127.0.0.1:${await freePort()}` });
    const reply = await request(front.port, "/");
    assert.equal(reply.status, 500);
    assert.match(reply.body, /Something really bad happened/);
    assert.match(front.output(), /ECONNREFUSED/);
  });

  it("answers 500 when COLOR_HOST does not resolve", async () => {
    const front = await startApp(FRONT_APP, { COLOR_HOST: "no-such-host.invalid:8080" });
    const reply = await request(front.port, "/");
    assert.equal(reply.status, 500);
    assert.match(reply.body, /Something really bad happened/);
    assert.match(front.output(), /Trying to hit no-such-host\.invalid/);
  });

  it("answers methods other than GET with 501, without calling upstream", async () => {
    const upstream = await recordingUpstream(200);
    const front = await startApp(FRONT_APP, { COLOR_HOST: `127.0.0.1:${upstream.port}` });
    const reply = await request(front.port, "/", { method: "POST" });
    assert.equal(reply.status, 501);
    assert.deepEqual(upstream.seen, []);
  });

  it("refuses to start without a usable COLOR_HOST", async () => {
    const badEnvs: Record<string, string>[] = [
      {},
      { COLOR_HOST: "" },
      { COLOR_HOST: "color:8080/path" },
      { COLOR_HOST: "color:notaport" },
    ];
    for (const env of badEnvs) {
      const { closed, output } = spawnApp(FRONT_APP, { ...env, PORT: String(await freePort()) });
      assert.deepEqual(await closed, { code: 1, signal: null }, JSON.stringify(env));
      assert.match(output(), /COLOR_HOST must be host\[:port\]/);
    }
  });

  it("listens on BIND_ADDRESS and exits with status 0 on SIGTERM", async () => {
    const front = await startApp(FRONT_APP, { COLOR_HOST: "color:8080", BIND_ADDRESS: "127.0.0.1" });
    assert.match(front.output(), new RegExp(`^listening on 127\\.0\\.0\\.1:${front.port}$`, "m"));
    front.child.kill("SIGTERM");
    assert.deepEqual(await front.closed, { code: 0, signal: null });
  });
});

describe("appSources", () => {
  it("returns both apps' current text keyed by their file names", () => {
    const sources = appSources();
    assert.deepEqual(Object.keys(sources).sort(), ["color-app.js", "front-app.js"]);
    assert.equal(sources["color-app.js"], fs.readFileSync(COLOR_APP, "utf8"));
    assert.equal(sources["front-app.js"], fs.readFileSync(FRONT_APP, "utf8"));
    assert.ok(Object.isFrozen(sources));
  });
});
