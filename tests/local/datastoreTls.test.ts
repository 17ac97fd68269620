/**
 * 27#12 / 21#8 on a real PostgreSQL: the connection string the eks stack gives the servers for RDS
 * (stack/database.ts, sslmode=verify-full with sslrootcert) is one spire-server 1.13.3's datastore connects with
 * when the database's certificate chains to that bundle and names the host, and refuses otherwise.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Postgres, startPostgres } from "../../local/postgres";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS } from "../../local/waitUntil";
import { rdsConnectionString } from "../../stack/database";
import { testServerCertificate } from "../support/testCa";

describe("datastore TLS: verify-full against the CA bundle, on a real PostgreSQL", function () {
  this.timeout(4 * PROPAGATION_MS);
  const server = testServerCertificate("localhost");
  const otherCa = testServerCertificate("localhost").caPem;
  let pg: Postgres;
  let dir: string;
  const bundle = (pem: string, name: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, pem);
    return file;
  };
  const harnesses: SpireHarness[] = [];
  const start = (connectionString: string) =>
    startSpire({ connectionString, settings: { datastore: { type: "postgres", connectionString } } }).then(
      (h) => {
        harnesses.push(h);
        return h;
      },
    );

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-dbtls-"));
    pg = await startPostgres({ tls: server });
  });
  after(async () => {
    for (const h of harnesses) await h.stop();
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("connects over TLS when the certificate chains to the bundle and names the host", async () => {
    const connection = rdsConnectionString("localhost", pg.port, "unused", bundle(server.caPem, "ca.pem"));
    const spire = await start(connection);
    const created = spire.servers[0].cli([
      "entry",
      "create",
      "-spiffeID",
      "spiffe://howto-k8s-mtls-sds-based.aws/tls-witness",
      "-parentID",
      "spiffe://howto-k8s-mtls-sds-based.aws/agent",
      "-selector",
      "unix:uid:4242",
    ]);
    assert.equal(created.status, 0, created.stderr);
    // The server's own sessions (not this psql's) are encrypted.
    const encrypted = Number(
      pg
        .sql(
          "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.datname = 'spire' AND a.pid <> pg_backend_pid()",
        )
        .trim(),
    );
    assert.ok(encrypted >= 1, `SPIRE's encrypted sessions: ${encrypted}`);
    await spire.stop();
  });

  it("refuses a database whose certificate does not chain to the bundle", async () => {
    const connection = rdsConnectionString("localhost", pg.port, "unused", bundle(otherCa, "other-ca.pem"));
    await assert.rejects(start(connection), /datastore-sql: .*x509: certificate signed by unknown authority/);
  });

  it("refuses a database whose certificate does not name the host it was reached by (verify-full, not verify-ca)", async () => {
    const connection = rdsConnectionString("127.0.0.1", pg.port, "unused", bundle(server.caPem, "ca.pem"));
    await assert.rejects(
      start(connection),
      /x509: cannot validate certificate for 127\.0\.0\.1 because it doesn't contain any IP SANs/,
    );
  });
});
