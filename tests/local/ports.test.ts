/** local/ports.ts: listening ports come from outside the kernel's ephemeral range, never twice, free when given. */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import { freePort } from "../../local/ports";

describe("loopback listening ports (local/ports.ts)", () => {
  const ephemeralStart = Number(
    fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0],
  );

  it("hands out 100 distinct ports below the ephemeral range, each one bindable", async () => {
    const ports: number[] = [];
    for (let i = 0; i < 100; i++) ports.push(await freePort());
    assert.equal(new Set(ports).size, 100);
    const outside = ports.filter((p) => p < 10_000 || p >= ephemeralStart);
    assert.deepEqual(outside, [], `ephemeral range starts at ${ephemeralStart}`);
    for (const port of ports.slice(0, 10)) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
