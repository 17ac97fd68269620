// biome-ignore lint/suspicious/noRedundantUseStrict: a CommonJS script, not an ES module, so it is needed
"use strict";
// The ledger: a balance per account, kept in memory. GET /ping is its health check; GET /balance/<account>
// answers with JSON. It listens where the sidecar forwards mesh traffic, and nowhere else.

const http = require("node:http");

const PORT = Number(process.env.PORT ?? "8080");
const BIND_ADDRESS = process.env.BIND_ADDRESS || "127.0.0.1";
const balances = new Map([
  ["alice", 120],
  ["bob", 45],
]);

const server = http.createServer((req, res) => {
  if (req.method !== "GET") {
    res.writeHead(405, { Allow: "GET" }).end();
    return;
  }
  if (req.url === "/ping") {
    res.writeHead(200, { "Content-Type": "text/plain" }).end("pong");
    return;
  }
  const account = /^\/balance\/([a-z0-9-]{1,40})$/.exec(req.url ?? "")?.[1];
  if (account === undefined || !balances.has(account)) {
    res
      .writeHead(404, { "Content-Type": "application/json" })
      .end(JSON.stringify({ error: "no such account" }));
    return;
  }
  res
    .writeHead(200, { "Content-Type": "application/json" })
    .end(JSON.stringify({ account, balance: balances.get(account) }));
});
server.listen(PORT, BIND_ADDRESS, () => console.log(`ledger listening on ${BIND_ADDRESS}:${PORT}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
