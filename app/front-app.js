// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS script, not an ES module, so it is needed
"use strict";
// The walkthrough's feapp/serve.py (Python http.server + urllib), in Node with no dependencies so a
// stock node image can run it straight from a ConfigMap. Any GET other than /ping asks the color
// virtual service for "/" and relays the answer; the mesh routes that call on the color_header header.

const dns = require("node:dns");
const http = require("node:http");

const COLOR_HOST = process.env.COLOR_HOST;
const PORT = parsePort(process.env.PORT ?? "8080");
// 127.0.0.1 when a sidecar Envoy fronts the pod: then only the sidecar can reach the app.
const BIND_ADDRESS = process.env.BIND_ADDRESS || "0.0.0.0";
// urllib had no timeout at all; 15 s is Envoy's default route timeout, so a hung color app fails
// the same way with or without a mesh in between.
const UPSTREAM_TIMEOUT_MS = 15000;

console.log(`COLOR_HOST is ${COLOR_HOST}`);
console.log(`PORT is ${PORT}`);
console.log(`BIND_ADDRESS is ${BIND_ADDRESS}`);

// The Python app started without COLOR_HOST and then failed every request; failing at start makes
// the misconfiguration visible as a crash-looping pod instead.
const target = parseColorHost(COLOR_HOST);

function parsePort(text) {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    console.error(`[ERROR] PORT must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
    process.exit(1);
  }
  return port;
}

// host[:port], as urllib read it from f"http://{COLOR_HOST}"; the port defaults to 80.
function parseColorHost(text) {
  const url = URL.canParse(`http://${text}`) ? new URL(`http://${text}`) : undefined;
  const hostOnly = url?.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  if (!text || !hostOnly) {
    console.error(`[ERROR] COLOR_HOST must be host[:port], got ${JSON.stringify(text)}`);
    process.exit(1);
  }
  // host is the Host header ("name:port" as given, ":80" dropped); hostname is what DNS resolves.
  return { host: url.host, hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port || 80) };
}

// Same status line and message as BaseHTTPRequestHandler.send_error, with a plain-text body.
function sendError(res, code, message) {
  res.writeHead(code, message, { "Content-Type": "text/plain; charset=utf-8", Connection: "close" });
  res.end(`Error code: ${code}\nMessage: ${message}.\n`);
}

// GET http://COLOR_HOST/ from the given address; resolves with the whole response, whatever its status.
function getColor(address, colorHeader) {
  // Only Host and color_header travel upstream: the original built a fresh urllib Request.
  const headers = { Host: target.host };
  if (colorHeader !== undefined) headers.color_header = colorHeader;
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port: target.port, path: "/", headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode, reason: res.statusMessage, body: Buffer.concat(chunks) }),
      );
      res.on("error", reject);
    });
    req.setTimeout(UPSTREAM_TIMEOUT_MS, () =>
      req.destroy(new Error(`no answer in ${UPSTREAM_TIMEOUT_MS} ms`)),
    );
    req.on("error", reject);
  });
}

async function relayColor(req, res) {
  try {
    console.log(`Trying to hit ${target.hostname}`);
    // IPv4 only, like socket.gethostbyname: the apps listen on IPv4, and "localhost" may list ::1 first.
    const { address } = await dns.promises.lookup(target.hostname, { family: 4 });
    console.log(address);
    // Python's headers.get returns the first value when the header is repeated.
    const upstream = await getColor(address, req.headersDistinct.color_header?.[0]);
    // urllib raised HTTPError for anything outside 2xx, and the handler passed that status on.
    if (upstream.status < 200 || upstream.status > 299) {
      console.log(`[ERROR] HTTP Error ${upstream.status}: ${upstream.reason}`);
      sendError(res, upstream.status, upstream.reason || http.STATUS_CODES[upstream.status] || "Error");
      return;
    }
    res.writeHead(200);
    res.end(upstream.body);
  } catch (err) {
    console.log(`[ERROR] ${err.message}`);
    // The Python app meant to send this, but its bytes message made send_error raise and the
    // connection closed with no response at all; a real 500 is what the walkthrough intended.
    sendError(res, 500, "Something really bad happened");
  }
}

const server = http.createServer((req, res) => {
  // Python only implements do_GET; every other method (HEAD included) gets its 501.
  if (req.method !== "GET") {
    sendError(res, 501, `Unsupported method ('${req.method}')`);
    return;
  }
  // Exact match, as in the original: "/ping?x" is not the health check.
  if (req.url === "/ping") {
    res.writeHead(200);
    res.end();
    return;
  }
  // The incoming path is deliberately not forwarded: the original always asked for "/".
  relayColor(req, res);
});

server.listen(PORT, BIND_ADDRESS, () => {
  const { address, port } = server.address();
  console.log(`listening on ${address}:${port}`);
});

// As PID 1 in a container Node gets no default signal handlers, so without this the kubelet's
// SIGTERM is ignored and the pod waits out its grace period before SIGKILL.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    console.log(`${signal} received, closing server`);
    server.close(() => process.exit(0));
  });
}
