// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS script, not an ES module, so it is needed
"use strict";
// The walkthrough's colorapp/serve.py (Python http.server), in Node with no dependencies so a stock
// node image can run it straight from a ConfigMap: GET /ping is the health check, any other GET path
// answers with this pod's color.

const http = require("node:http");

const COLOR = process.env.COLOR ?? "no color!";
const PORT = parsePort(process.env.PORT ?? "8080");
// 127.0.0.1 when a sidecar Envoy fronts the pod: then only the sidecar can reach the app.
const BIND_ADDRESS = process.env.BIND_ADDRESS || "0.0.0.0";

console.log(`COLOR is ${COLOR}`);
console.log(`PORT is ${PORT}`);
console.log(`BIND_ADDRESS is ${BIND_ADDRESS}`);

function parsePort(text) {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    console.error(`[ERROR] PORT must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
    process.exit(1);
  }
  return port;
}

// Same status line and message as BaseHTTPRequestHandler.send_error, with a plain-text body.
function sendError(res, code, message) {
  res.writeHead(code, message, { "Content-Type": "text/plain; charset=utf-8", Connection: "close" });
  res.end(`Error code: ${code}\nMessage: ${message}.\n`);
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
  res.writeHead(200);
  res.end(Buffer.from(COLOR, "utf8"));
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
