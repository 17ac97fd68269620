/**
 * SPIRE in HA, for real: two spire-server 1.13.3 processes from the rendered postgres server.conf (paths remapped,
 * the connection string from the environment through -expandEnv) on one throwaway PostgreSQL, agents behind a
 * Service stand-in or pinned to one server, and the dev stack's workloads behind their TLS sidecars. Every figure
 * docs/production.md quotes is printed here.
 */
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as tls from "node:tls";
import type { LoopbackService } from "../../local/loopbackService";
import { type LocalMesh, registerLocally, startLocalMesh } from "../../local/mesh";
import { type Postgres, startPostgres } from "../../local/postgres";
import type { HarnessAgent, ShownEntry, SpireHarness } from "../../local/spireHarness";
import { startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS, waitUntil } from "../../local/waitUntil";
import type { RenderResult } from "../../render/runtime";
import { renderStack } from "../support/render";
import { selfSignedCertificate } from "../support/testCa";
import {
  linesSince,
  logMark,
  servedCertificate,
  stopAllTraffic,
  traffic,
  viaFront,
} from "../support/witness";

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

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = PROPAGATION_MS,
): Promise<T> {
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

async function fetchId(agent: HarnessAgent, id: string, timeoutMs = PROPAGATION_MS) {
  return until(`${id} at ${agent.socket}`, async () => {
    const x = await agent.fetchX509(timeoutMs);
    const i = x.spiffeIds.indexOf(id);
    return i >= 0 ? { chain: certs(fs.readFileSync(x.svidPaths[i], "utf8")), x } : undefined;
  });
}

/** Requests that must run before a fault is injected, so "0 failed" is about traffic that was flowing. */
const WARM_REQUESTS = 20;

/**
 * SPIRE renews an X.509-SVID once its remaining life falls under half its lifetime, jittered by a tenth of that
 * half: somewhere between 45% and 55% of the lifetime (notBefore to notAfter).
 */
const renewalWindow = (c: { validFrom: number; expiresAt: number }) => {
  const lifetime = c.expiresAt - c.validFrom;
  return { earliest: c.validFrom + 0.45 * lifetime, latest: c.validFrom + 0.55 * lifetime };
};

describe("HA: two SPIRE servers on one real PostgreSQL", function () {
  // Above the bounded waits inside one test (PROPAGATION_MS each), so a slow machine fails with their message.
  this.timeout(4 * PROPAGATION_MS);
  let pg: Postgres;

  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await pg?.stop();
  });
  // A failed test leaves its traffic loop running: stop it, or mocha never exits.
  afterEach(stopAllTraffic);

  describe("no upstream authority: each server its own root", () => {
    let spire: SpireHarness;
    let agentA: HarnessAgent;
    let agentB: HarnessAgent;
    let mesh: LocalMesh;
    let withGreen: RenderResult;

    before(async () => {
      // 30 s SVIDs (40 s from their backdated notBefore): renewed 8-12 s after issue, so a renewal falls inside
      // each outage below with most of the SVID's life left; and a 1 s agent sync, so the agent retries soon.
      const short = { svidTtl: "30s" };
      const dev = await renderStack("dev", short);
      withGreen = await renderStack("dev", { ...short, registerGreen: "true" });
      spire = await startSpire({
        servers: 2,
        connectionString: pg.connectionString,
        agentAlias: ALIAS,
        settings: {
          datastore: { type: "postgres", connectionString: pg.connectionString },
          replicas: 2,
          agentSyncInterval: "1s",
        },
      });
      agentA = await spire.addAgent({ server: 0, alias: ALIAS });
      agentB = await spire.addAgent({ server: 1, alias: ALIAS });
      mesh = await startLocalMesh(spire, dev);
      registerLocally(spire, dev, mesh);
      await Promise.all(["front", "blue", "red"].map((w) => mesh.whenLive(w)));
      await waitUntil(
        "blue answering through front",
        () => viaFront(mesh, "blue"),
        (s) => s === 200,
      );
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

    it("server failover: SIGKILL the server the mesh's agent is connected to, under mTLS traffic and across an SVID renewal; 0 requests fail, the other server serves, the killed one rejoins", async () => {
      const service = spire.service as LoopbackService;
      const ports = spire.servers.map((x) => x.port);
      const pinned = [agentA, agentB];
      // The Service picked the agent's server: the test kills that one, whichever it is.
      const openBefore = await waitUntil(
        "the mesh's agent connected to a server through the Service",
        () => ({ ...service.open }),
        (open) => ports.some((p) => open[p] > 0),
      );
      const victim = openBefore[ports[0]] >= openBefore[ports[1]] ? 0 : 1;
      const survivor = 1 - victim;
      const load = traffic(mesh, "blue");
      await waitUntil(
        `${WARM_REQUESTS} requests front->blue`,
        () => load.sent.length,
        (n) => n >= WARM_REQUESTS,
      );
      const rootsBefore = certs(spire.servers[survivor].cli(["bundle", "show"]).stdout).length;
      const servedBefore = await servedCertificate(mesh, "blue");
      await spire.servers[victim].kill("SIGKILL");
      const killedAt = Date.now();
      // Green's entry goes in through the survivor only; front's agent reaches it through the Service.
      registerLocally(
        { ...spire, serverSocket: spire.servers[survivor].socket },
        withGreen,
        mesh,
        (id) => id === `${TD}/colorgreen`,
      );
      await mesh.whenLive("green");
      await waitUntil(
        "green answering with the killed server down",
        () => viaFront(mesh, "green"),
        (s) => s === 200,
      );
      const greenMs = Date.now() - killedAt;
      // Blue's next SVID can only come from the survivor: the renewal is the failover's witness.
      const renewed = await waitUntil(
        `blue's SVID renewed with server ${victim} down (serial other than ${servedBefore.serial})`,
        () => servedCertificate(mesh, "blue"),
        (c) => c.serial !== servedBefore.serial,
        {
          hopeless: () =>
            renewalWindow(servedBefore).latest > killedAt + PROPAGATION_MS
              ? `blue's SVID (until ${new Date(servedBefore.expiresAt).toISOString()}) renews after this wait: render a short svidTtl`
              : undefined,
        },
      );
      const renewedMs = Date.now() - killedAt;
      const openAfter = { ...service.open };
      const down = !spire.servers[victim].running;
      const { requests, failures } = await load.stop();
      const duringOutage = load.within(killedAt, Date.now()).length;
      log(
        `server ${victim} killed (agent connections ${JSON.stringify(openBefore)} -> ${JSON.stringify(openAfter)}): ` +
          `${requests} requests front->blue (${duringOutage} during the outage), ${failures} failed; ` +
          `green (registered on ${survivor}) served after ${greenMs} ms; blue's SVID renewed after ${renewedMs} ms`,
      );
      assert.ok(down, `server ${victim} came back before blue's SVID renewed`);
      assert.ok(openBefore[ports[victim]] > 0, "the agent was connected to the killed server");
      assert.equal(openAfter[ports[victim]], 0);
      assert.ok(
        openAfter[ports[survivor]] > 0,
        `the agent is connected to server ${survivor} after the kill`,
      );
      assert.ok(renewed.validFrom > servedBefore.validFrom);
      assert.equal(failures, 0, `${failures} of ${requests} requests failed`);
      assert.ok(duringOutage >= WARM_REQUESTS, `only ${duringOutage} requests during the outage`);

      const restartedAt = Date.now();
      await spire.servers[victim].start();
      const rejoinMs = Date.now() - restartedAt;
      // The agent pinned to the killed server gets an entry created on the survivor once its server is back.
      createEntry(spire, survivor, "/after-rejoin", spire.workloadSelector);
      await fetchId(pinned[victim], `${TD}/after-rejoin`);
      const rootsAfter = certs(spire.servers[survivor].cli(["bundle", "show"]).stdout).length;
      log(
        `server ${victim} healthy again after ${rejoinMs} ms; bundle roots ${rootsBefore} -> ${rootsAfter}`,
      );
      // It kept its CA key on its own volume: it signs under the root its agent already trusts, the bundle unchanged.
      assert.equal(rootsAfter, rootsBefore);
    });

    it("database outage: PostgreSQL down under traffic and across blue's renewal point; requests keep succeeding, the agent's renewal is refused until the database is back, no entry lost", async () => {
      const before = content(spire.servers[0].entries());
      const count = (i: number) => spire.servers[i].cli(["entry", "count"]).stdout.trim();
      const countBefore = count(1);
      const load = traffic(mesh, "blue");
      await waitUntil(
        `${WARM_REQUESTS} requests front->blue`,
        () => load.sent.length,
        (n) => n >= WARM_REQUESTS,
      );
      // The outage starts just before blue's renewal window, on an SVID whose whole window is still ahead.
      let cert = await servedCertificate(mesh, "blue");
      const renewsIn = renewalWindow(cert).earliest - Date.now();
      assert.ok(
        renewsIn < PROPAGATION_MS,
        `blue's SVID renews in ${Math.round(renewsIn / 1000)} s: the outage cannot cross a renewal; render a short svidTtl`,
      );
      if (Date.now() > renewalWindow(cert).earliest - 4000) {
        const current = cert.serial;
        cert = await waitUntil(
          "blue's next SVID",
          () => servedCertificate(mesh, "blue"),
          (c) => c.serial !== current,
        );
      }
      const window = renewalWindow(cert);
      // A wait on the SVID's own clock, not a guess: the agent renews nothing before `earliest`.
      await delay(Math.max(0, window.earliest - 3000 - Date.now()));
      const agentLog = spire.agents[0].logFile;
      const outage: string[] = [];
      let refusedSync: { at: number; line: string } | undefined;
      let servedAtRefusal = "";
      const { downAt, upAt } = await pg.restart({
        minDownMs: 5000,
        whileDown: async () => {
          const mark = logMark(agentLog);
          const r = spire.servers[1].cli(["entry", "count"]);
          outage.push(r.status === 0 ? "answered" : "refused");
          // The agent's sync (which renews due SVIDs) refused after blue's renewal became due at the latest.
          refusedSync = await waitUntil(
            "the mesh's agent to sync, renewal due, and be refused with the database down",
            () =>
              linesSince(agentLog, mark).find(
                (l) => /Synchronize failed/.test(l.line) && l.at >= window.latest,
              ),
            (found) => found !== undefined,
            {
              hopeless: () =>
                Date.now() > cert.expiresAt - 8000
                  ? "blue's SVID is about to expire: the outage must end"
                  : undefined,
            },
          );
          // Still the SVID whose renewal was due: the refused sync was that renewal's attempt.
          servedAtRefusal = (await servedCertificate(mesh, "blue")).serial;
        },
      });
      const reconnect = await Promise.all(
        [0, 1].map(async (i) => {
          await until(`server ${i} answering after the restart`, async () =>
            spire.servers[i].cli(["entry", "count"]).status === 0 ? true : undefined,
          );
          return Date.now() - upAt;
        }),
      );
      const renewed = await waitUntil(
        `blue's overdue SVID renewed once the database is back (serial other than ${cert.serial})`,
        () => servedCertificate(mesh, "blue"),
        (c) => c.serial !== cert.serial,
      );
      const { requests, failures } = await load.stop();
      const duringOutage = load.within(downAt, upAt);
      log(
        `PostgreSQL down ${upAt - downAt} ms (entry count on B while down: ${outage.join(", ")}); servers answering ` +
          `${reconnect.join(" / ")} ms later; ${requests} requests, ${duringOutage.length} during the outage, ` +
          `${failures} failed; agent refused: ${refusedSync?.line.slice(0, 200)}; blue's SVID renewed ` +
          `${Date.now() - upAt} ms after (issued ${new Date(renewed.validFrom + 10_000).toISOString()}); entries ${countBefore} -> ${count(1)}`,
      );
      assert.equal(failures, 0, `${failures} of ${requests} requests failed`);
      assert.ok(duringOutage.length > 0, "no request ran while the database was down");
      assert.ok(refusedSync, "the agent's sync with a renewal due was refused during the outage");
      assert.equal(
        servedAtRefusal,
        cert.serial,
        "blue's due SVID was still unrenewed when the sync was refused",
      );
      assert.deepEqual(outage, ["refused"], "with the database down the servers cannot read entries");
      assert.equal(count(1), countBefore);
      assert.deepEqual(content(spire.servers[0].entries()), before);
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
      selfSignedCertificate({
        subject: "/O=spire-mesh test/CN=upstream root",
        keyOut: path.join(pki, "tls.key"),
        certOut: path.join(pki, "tls.crt"),
        extensions: ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"],
      });
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

  describe("telemetry: the metrics docs/production.md's table names, scraped from a real server and agent", () => {
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
