/**
 * SPIRE in HA, for real: two spire-server 1.13.3 processes from the rendered postgres server.conf (paths remapped,
 * the connection string from the environment through -expandEnv) on one throwaway PostgreSQL, agents behind a
 * Service stand-in or pinned to one server, and the dev stack's workloads behind their TLS sidecars. Every figure
 * the README quotes is printed here.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as tls from "node:tls";
import { type LocalMesh, registerLocally, startLocalMesh } from "../../local/mesh";
import { type Postgres, startPostgres } from "../../local/postgres";
import type { HarnessAgent, ShownEntry, SpireHarness } from "../../local/spireHarness";
import { startSpire } from "../../local/spireHarness";
import type { RenderResult } from "../../render/runtime";
import { renderStack } from "../support/render";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const ALIAS = `${TD}/ns/spire/sa/spire-agent`;

const certs = (pem: string) =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (c) => new X509Certificate(c),
  );

/** Index of the root in `roots` that signed `cert` (directly or through the chain's intermediates). */
function signingRoot(chain: X509Certificate[], roots: X509Certificate[]): number {
  for (let i = 0; i < chain.length; i++) {
    const found = roots.findIndex((r) => chain[i].checkIssued(r) && chain[i].verify(r.publicKey));
    if (found >= 0) {
      // Every link below it must verify too.
      for (let j = 0; j < i; j++)
        assert.ok(chain[j].verify(chain[j + 1].publicKey), `link ${j} of the chain`);
      return found;
    }
  }
  return -1;
}

const log = (line: string) => console.log(`      [ha] ${line}`);

/** Entries as compared before and after an outage: everything but creation time. */
const content = (entries: ShownEntry[]) =>
  entries.map((e) => JSON.stringify([e.id, e.spiffe_id, e.parent_id, e.selectors, e.x509_svid_ttl])).sort();

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(200);
  }
}

function createEntry(spire: SpireHarness, server: number, path: string, selector: string): void {
  const r = spire.servers[server].cli([
    "entry",
    "create",
    "-spiffeID",
    `${TD}${path}`,
    "-parentID",
    ALIAS,
    "-selector",
    selector,
  ]);
  assert.equal(r.status, 0, r.stderr);
}

async function fetchId(agent: HarnessAgent, id: string, timeoutMs = 45_000) {
  return until(`${id} at ${agent.socket}`, async () => {
    const x = await agent.fetchX509(timeoutMs);
    const i = x.spiffeIds.indexOf(id);
    return i >= 0 ? { chain: certs(fs.readFileSync(x.svidPaths[i], "utf8")), x } : undefined;
  });
}

async function get(mesh: LocalMesh, color: string): Promise<number> {
  try {
    const r = await fetch(`${mesh.ingressUrl("front")}/`, { headers: { color_header: color } });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

/** Requests front -> color in a loop until stopped; counts and failures. */
function traffic(mesh: LocalMesh, color: string) {
  const stats = { requests: 0, failures: 0 };
  let running = true;
  const done = (async () => {
    while (running) {
      stats.requests++;
      if ((await get(mesh, color)) !== 200) stats.failures++;
    }
  })();
  return {
    stats,
    stop: async () => {
      running = false;
      await done;
      return stats;
    },
  };
}

describe("HA: two SPIRE servers on one real PostgreSQL", function () {
  this.timeout(300_000);
  let pg: Postgres;

  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.stop();
  });

  describe("no upstream authority: each server its own root", () => {
    let spire: SpireHarness;
    let agentA: HarnessAgent;
    let agentB: HarnessAgent;
    let mesh: LocalMesh;
    let withGreen: RenderResult;

    before(async () => {
      const dev = await renderStack("dev");
      withGreen = await renderStack("dev", { registerGreen: "true" });
      spire = await startSpire({
        servers: 2,
        connectionString: pg.connectionString,
        agentAlias: ALIAS,
        settings: { datastore: { type: "postgres", connectionString: pg.connectionString }, replicas: 2 },
      });
      agentA = await spire.addAgent({ server: 0, alias: ALIAS });
      agentB = await spire.addAgent({ server: 1, alias: ALIAS });
      mesh = await startLocalMesh(spire, dev);
      registerLocally(spire, dev, mesh);
      await until("blue answering through front", async () => (await get(mesh, "blue")) === 200 || undefined);
    });
    after(async () => {
      await mesh?.stop();
      await spire?.stop();
    });

    it("an entry created through server A is listed by B at once and reaches a workload whose agent talks to B", async () => {
      const began = Date.now();
      createEntry(spire, 0, "/made-on-a", spire.workloadSelector);
      const onB = spire.servers[1].entries().filter((e) => e.spiffe_id.path === "/made-on-a");
      const listedMs = Date.now() - began;
      assert.equal(onB.length, 1, "B lists the entry A created");
      const { chain } = await fetchId(agentB, `${TD}/made-on-a`);
      const servedMs = Date.now() - began;
      log(`entry via A: listed by B after ${listedMs} ms, SVID at B's agent after ${servedMs} ms`);
      assert.ok(chain.length >= 1);
    });

    it("the bundle holds both servers' roots; SVIDs signed by A and by B; mTLS between them works", async () => {
      const roots = certs(spire.servers[1].cli(["bundle", "show"]).stdout);
      assert.equal(roots.length, 2, "one self-signed root per server");
      createEntry(spire, 0, "/cross", spire.workloadSelector);
      const viaA = await fetchId(agentA, `${TD}/cross`);
      const viaB = await fetchId(agentB, `${TD}/cross`);
      const rootA = signingRoot(viaA.chain, roots);
      const rootB = signingRoot(viaB.chain, roots);
      assert.ok(rootA >= 0 && rootB >= 0, "each SVID chains to a root of the bundle");
      assert.notEqual(rootA, rootB, "A's and B's agents hold SVIDs from different roots");
      log(`bundle: ${roots.length} roots; A's SVID under root ${rootA}, B's under root ${rootB}`);
      // Each side trusts what its own agent handed it (the whole bundle) and checks the peer's SPIFFE ID.
      const read = (x: typeof viaA.x) => ({
        cert: fs.readFileSync(x.svidPaths[x.spiffeIds.indexOf(`${TD}/cross`)], "utf8"),
        key: fs.readFileSync(
          x.svidPaths[x.spiffeIds.indexOf(`${TD}/cross`)].replace(/\.pem$/, ".key"),
          "utf8",
        ),
        ca: fs.readFileSync(x.bundlePath, "utf8"),
      });
      const a = read(viaA.x);
      const b = read(viaB.x);
      const server = tls.createServer({ ...a, requestCert: true, rejectUnauthorized: true }, (s) => {
        s.end((s.getPeerCertificate().subjectaltname ?? "").toString());
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as { port: number }).port;
      const answer = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ ...b, port, host: "127.0.0.1", checkServerIdentity: () => undefined }, () => {
          assert.match(
            c.getPeerCertificate().subjectaltname ?? "",
            /URI:spiffe:\/\/howto-k8s-mtls-sds-based\.aws\/cross/,
          );
        });
        let text = "";
        c.on("data", (d) => {
          text += d;
        });
        c.on("end", () => resolve(text));
        c.on("error", reject);
      });
      server.close();
      assert.match(
        answer,
        /URI:spiffe:\/\/howto-k8s-mtls-sds-based\.aws\/cross/,
        "A's side verified B's SVID",
      );
    });

    it("server failover: SIGKILL A under mTLS traffic, 0 requests fail, a new entry via B reaches its workload, A rejoins", async () => {
      const load = traffic(mesh, "blue");
      await delay(2000);
      const rootsBefore = certs(spire.servers[1].cli(["bundle", "show"]).stdout).length;
      await spire.servers[0].kill("SIGKILL");
      const killedAt = Date.now();
      // Green's entry goes in through B only; front's agent reaches B through the Service.
      registerLocally(
        { ...spire, serverSocket: spire.servers[1].socket },
        withGreen,
        mesh,
        (id) => id === `${TD}/colorgreen`,
      );
      await until(
        "green answering with A down",
        async () => (await get(mesh, "green")) === 200 || undefined,
        60_000,
      );
      const greenMs = Date.now() - killedAt;
      await delay(2000);
      const { requests, failures } = await load.stop();
      log(
        `A killed: ${requests} requests front->blue, ${failures} failed; green (registered on B) served after ${greenMs} ms`,
      );
      assert.equal(failures, 0, `${failures} of ${requests} requests failed`);
      assert.ok(requests > 20, `only ${requests} requests`);

      const restartedAt = Date.now();
      await spire.servers[0].start();
      const rejoinMs = Date.now() - restartedAt;
      assert.deepEqual(content(spire.servers[0].entries()), content(spire.servers[1].entries()));
      // A's agent (pinned to A) gets an entry created on B once A is back.
      createEntry(spire, 1, "/after-rejoin", spire.workloadSelector);
      await fetchId(agentA, `${TD}/after-rejoin`);
      const rootsAfter = certs(spire.servers[1].cli(["bundle", "show"]).stdout).length;
      log(
        `A healthy again after ${rejoinMs} ms, same entries as B; bundle roots ${rootsBefore} -> ${rootsAfter}`,
      );
      // A kept its CA key on its own volume: it signs under the root its agent already trusts, the bundle unchanged.
      assert.equal(rootsAfter, rootsBefore);
    });

    it("database outage: restart PostgreSQL under traffic; servers reconnect, no entry lost", async () => {
      const before = content(spire.servers[0].entries());
      const outage: string[] = [];
      const count = (i: number) => spire.servers[i].cli(["entry", "count"]).stdout.trim();
      const countBefore = count(1);
      const load = traffic(mesh, "blue");
      await delay(1000);
      // Down for 5 s: registration stops, identities already issued keep working.
      const downMs = await pg.restart(5000, () => {
        const r = spire.servers[1].cli(["entry", "count"]);
        outage.push(r.status === 0 ? "answered" : "refused");
      });
      const back = Date.now();
      const reconnect = await Promise.all(
        [0, 1].map(async (i) => {
          await until(`server ${i} answering after the restart`, async () =>
            spire.servers[i].cli(["entry", "count"]).status === 0 ? true : undefined,
          );
          return Date.now() - back;
        }),
      );
      await delay(2000);
      const { requests, failures } = await load.stop();
      log(
        `PostgreSQL down ${downMs} ms (entry count on B while down: ${outage.join(", ")}); servers answering ${reconnect.join(" / ")} ms later; ` +
          `${requests} requests during it, ${failures} failed; entries ${countBefore} -> ${count(1)}`,
      );
      assert.equal(failures, 0);
      assert.deepEqual(outage, ["refused"], "with the database down the servers cannot read entries");
      assert.equal(count(1), countBefore);
      assert.deepEqual(content(spire.servers[0].entries()), before);
      assert.deepEqual(content(spire.servers[1].entries()), before);
      createEntry(spire, 1, "/after-db-restart", spire.workloadSelector);
      await fetchId(agentA, `${TD}/after-db-restart`);
    });
  });

  describe("disk upstream authority: one root across CA rotation", () => {
    let spire: SpireHarness;
    let pki: string;
    let root: X509Certificate;

    before(async () => {
      // A throwaway upstream CA (the Secret's tls.crt and tls.key on a cluster), removed after the test.
      pki = fs.mkdtempSync(path.join(os.tmpdir(), "spm-upstream-"));
      const r = spawnSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          path.join(pki, "tls.key"),
          "-out",
          path.join(pki, "tls.crt"),
          "-days",
          "1",
          "-subj",
          "/O=spire-mesh test/CN=upstream root",
          "-addext",
          "basicConstraints=critical,CA:TRUE",
          "-addext",
          "keyUsage=critical,keyCertSign,cRLSign",
        ],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
      root = new X509Certificate(fs.readFileSync(path.join(pki, "tls.crt")));
      const connectionString = pg.createDatabase("spire_upstream");
      spire = await startSpire({
        servers: 2,
        connectionString,
        agentAlias: ALIAS,
        upstreamCaDir: pki,
        settings: {
          datastore: { type: "postgres", connectionString },
          replicas: 2,
          upstreamAuthority: { type: "disk", secretName: "upstream-ca" },
          // A short CA life, so each server rotates within the test: prepared at 1/2, active at 5/6 of it.
          caTtl: "1m",
          x509SvidTtl: "10s",
        },
      });
    });
    after(async () => {
      await spire?.stop();
      if (pki) fs.rmSync(pki, { recursive: true, force: true });
    });

    it("every server's SVIDs chain to the one root, and the bundle stays that one root while the CAs rotate", async () => {
      const agentA = await spire.addAgent({ server: 0, alias: ALIAS });
      const agentB = await spire.addAgent({ server: 1, alias: ALIAS });
      createEntry(spire, 0, "/upstream", spire.workloadSelector);
      const intermediates = new Set<string>();
      const bundles = new Set<string>();
      const deadline = Date.now() + 120_000;
      // Until each server has rotated at least once: 2 servers x 2 CAs seen.
      while (intermediates.size < 4 && Date.now() < deadline) {
        for (const agent of [agentA, agentB]) {
          const { chain } = await fetchId(agent, `${TD}/upstream`);
          assert.equal(chain.length, 2, "SVID and its server's intermediate CA");
          assert.ok(chain[0].verify(chain[1].publicKey), "the SVID is signed by its server's CA");
          assert.ok(
            chain[1].checkIssued(root) && chain[1].verify(root.publicKey),
            "that CA is signed by the root",
          );
          intermediates.add(chain[1].fingerprint256);
        }
        for (const server of spire.servers) {
          const roots = certs(server.cli(["bundle", "show"]).stdout);
          bundles.add(roots.map((c) => c.fingerprint256).join(","));
        }
        await delay(1000);
      }
      log(`disk upstream: ${intermediates.size} server CAs seen, bundle states ${[...bundles].length}`);
      assert.ok(intermediates.size >= 4, `only ${intermediates.size} server CAs: no rotation seen`);
      assert.deepEqual([...bundles], [root.fingerprint256], "the bundle is always exactly the upstream root");
    });
  });

  describe("telemetry: the metrics the README's table names, scraped from a real server and agent", () => {
    it("exposes SVIDs signed, the entry cache, agent syncs and datastore latency under those exact names", async () => {
      const connectionString = pg.createDatabase("spire_metrics");
      const spire = await startSpire({
        connectionString,
        agentAlias: ALIAS,
        settings: { datastore: { type: "postgres", connectionString }, telemetry: {} },
      });
      try {
        createEntry(spire, 0, "/metrics", spire.workloadSelector);
        await fetchId(spire.agents[0], `${TD}/metrics`);
        const scrape = async (port?: number) =>
          new Set(
            (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
              .split("\n")
              .filter((l) => !l.startsWith("#") && l.trim() !== "")
              .map((l) => l.replace(/[{ ].*/, "")),
          );
        const server = await scrape(spire.servers[0].telemetryPort);
        const agent = await scrape(spire.agents[0].telemetryPort);
        for (const name of [
          "spire_server_server_ca_sign_x509_svid",
          "spire_server_entry_cache_reload",
          "spire_server_entry_cache_reload_elapsed_time",
          "spire_server_datastore_registration_entry_list_elapsed_time",
          "spire_server_datastore_registration_entry_list_elapsed_time_count",
          "spire_server_rpc_entry_v1_entry_sync_authorized_entries",
          "spire_server_manager_x509_ca_rotate_ttl",
        ]) {
          assert.ok(server.has(name), `server metric ${name}`);
        }
        for (const name of [
          "spire_agent_manager_sync_fetch_entries_updates",
          "spire_agent_sync_entries_total",
          "spire_agent_lru_cache_record_map_size",
          "spire_agent_rpc_workload_api_fetch_x509svid",
        ]) {
          assert.ok(agent.has(name), `agent metric ${name}`);
        }
      } finally {
        await spire.stop();
      }
    });
  });
});
