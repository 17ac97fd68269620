/**
 * The local sidecar holds to Envoy's rules where the loopback tests lean on it, with real SPIRE SVIDs:
 * - a DownstreamTlsContext with a validation context always asks for a client certificate and verifies one that
 *   is presented (a foreign CA's is refused even where none is required); require_client_certificate only makes
 *   one mandatory; the SAN list applies to presented certificates;
 * - health gates routing through Envoy's panic threshold: a single unhealthy endpoint still takes requests at
 *   the default 50% (counted as lb_healthy_panic), and none at 0%.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { adminGet, newAdminSocketPath } from "../../local/adminSocket";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { statValue } from "../../local/mesh";
import { type Credentials, holdIdentity, outcome, probe } from "../../local/meshClient";
import { freePort } from "../../local/ports";
import { type Placement, Sidecar } from "../../local/sidecar";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { DataPlane } from "../../mesh/envoySidecar";
import { type MeshNodeArgs, meshNodePlan } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";
import { selfSignedCertificate } from "../support/testCa";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are edited as plain JSON.
type Json = any;

const TRUST_DOMAIN = "howto-k8s-mtls-sds-based.aws";
const TD = `spiffe://${TRUST_DOMAIN}`;
const AGENT = `${TD}/ns/spire/sa/spire-agent`;
const LISTENER = "listener.0.0.0.0_15000";

/** A self-signed certificate from no CA of the trust domain, claiming front's SPIFFE ID; its key stays in memory. */
function foreignCertificate(): { cert: string; key: string } {
  const pem = selfSignedCertificate({
    subject: "/O=foreign",
    keyOut: "-",
    certOut: "-",
    extensions: [`subjectAltName=URI:${TD}/front`],
  });
  const block = (kind: string) =>
    pem.match(new RegExp(`-----BEGIN ${kind}-----[\\s\\S]+?-----END ${kind}-----`))?.[0] ?? "";
  return { cert: block("CERTIFICATE"), key: block("PRIVATE KEY") };
}

const node = (args: Partial<MeshNodeArgs> & { name: string }): Json =>
  meshNodePlan({
    namespace: "rules",
    podSelector: { app: args.name },
    trustDomain: TRUST_DOMAIN,
    identity: `${TD}/${args.name}`,
    dataPlane: DataPlane.Envoy,
    ...args,
  } as MeshNodeArgs).envoy?.bootstrap;

/** An app answering 200 "app" to everything but `unhealthyPath`, which answers 503. */
async function startApp(unhealthyPath?: string): Promise<{ port: number; stop: () => void }> {
  const port = await freePort();
  const server = http
    .createServer((req, res) => {
      if (req.url === unhealthyPath) res.writeHead(503).end("sick");
      else res.end("app");
    })
    .listen(port, "127.0.0.1");
  return { port, stop: () => server.close() };
}

describe("the local sidecar on real SPIRE: Envoy's TLS and load-balancing rules", function () {
  this.timeout(120_000);
  let spire: SpireHarness;
  let asFront: Credentials;
  let asRed: Credentials;
  const stops: (() => void)[] = [];

  before(async () => {
    spire = await startSpire({ agentAlias: AGENT });
    // This process runs every sidecar and client, so its uid holds every identity.
    asFront = await holdIdentity(spire, `${TD}/front`, AGENT);
    asRed = await holdIdentity(spire, `${TD}/colorred`, AGENT);
    for (const id of ["ledger", "server", "client"]) await holdIdentity(spire, `${TD}/${id}`, AGENT);
  });
  after(async () => {
    for (const stop of stops) stop();
    await spire?.stop();
  });

  async function run(bootstrap: Json, place: Partial<Placement> = {}) {
    const placement: Placement = {
      agentSocket: spire.agentSocket,
      ingressPort: await freePort(),
      readinessPort: await freePort(),
      adminSocket: newAdminSocketPath(),
      egress: {},
      endpoints: {},
      ...place,
    };
    const sidecar = new Sidecar(sidecarPlan(bootstrap), placement);
    stops.push(() => sidecar.stop());
    await sidecar.start();
    await sidecar.whenLive;
    const admin = async (p: string) => (await adminGet(placement.adminSocket, p)).body;
    const stats = () => admin("/stats");
    return { placement, stats, admin, tls: `https://127.0.0.1:${placement.ingressPort}/` };
  }

  /** Retries while SDS delivers (a fresh sidecar's first handshakes may precede its certificate's arrival). */
  async function until200(url: string, credentials?: Credentials) {
    const deadline = Date.now() + 30_000;
    while (outcome(await probe(url, { credentials })) !== 200) {
      if (Date.now() > deadline) throw new Error(`${url} never answered 200`);
      await delay(300);
    }
  }

  it("PERMISSIVE's TLS chain asks every client for a certificate: none passes, a foreign CA's is refused, the trust domain's passes", async () => {
    const app = await startApp();
    stops.push(app.stop);
    const ledger = await run(node({ name: "ledger", tlsMode: TlsMode.Permissive }), {
      app: `127.0.0.1:${app.port}`,
    });
    await until200(ledger.tls, asFront);
    const noCertBefore = statValue(await ledger.stats(), `${LISTENER}.ssl.no_certificate`);
    assert.equal(outcome(await probe(ledger.tls)), 200, "TLS without a client certificate");
    assert.equal(statValue(await ledger.stats(), `${LISTENER}.ssl.no_certificate`), noCertBefore + 1);

    const failedBefore = statValue(await ledger.stats(), `${LISTENER}.ssl.fail_verify_error`);
    const foreign = { ...foreignCertificate(), ca: asFront.ca };
    assert.notEqual(
      outcome(await probe(ledger.tls, { credentials: foreign })),
      200,
      "a foreign CA's certificate",
    );
    assert.equal(
      statValue(await ledger.stats(), `${LISTENER}.ssl.fail_verify_error`),
      failedBefore + 1,
      "the presented certificate was verified and refused",
    );
    assert.equal(
      outcome(await probe(ledger.tls, { credentials: asRed })),
      200,
      "any SVID of the trust domain",
    );
  });

  it("require_client_certificate only makes the certificate mandatory: the SAN list still binds a presented one", async () => {
    const app = await startApp();
    stops.push(app.stop);
    const strict = node({ name: "server", tlsMode: TlsMode.Strict, allowedCallers: [`${TD}/front`] });
    const required = await run(strict, { app: `127.0.0.1:${app.port}` });
    await until200(required.tls, asFront);
    assert.notEqual(outcome(await probe(required.tls)), 200, "required: no certificate, no connection");

    const optional = structuredClone(strict);
    const ingress = optional.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_ingress_"));
    ingress.filter_chains[0].transport_socket.typed_config.require_client_certificate = false;
    const relaxed = await run(optional, { app: `127.0.0.1:${app.port}` });
    await until200(relaxed.tls, asFront);
    assert.equal(outcome(await probe(relaxed.tls)), 200, "not required: no certificate passes");
    const sanBefore = statValue(await relaxed.stats(), `${LISTENER}.ssl.fail_verify_san`);
    assert.notEqual(outcome(await probe(relaxed.tls, { credentials: asRed })), 200, "red is not on the list");
    assert.equal(statValue(await relaxed.stats(), `${LISTENER}.ssl.fail_verify_san`), sanBefore + 1);
  });

  /** server (its app failing the health check) behind client's egress listener; `edit` changes client's bootstrap. */
  async function unhealthyBackend(edit: (clusterJson: Json) => void = () => {}) {
    const app = await startApp("/health");
    stops.push(app.stop);
    const server = node({
      name: "server",
      tlsMode: TlsMode.Strict,
      allowedCallers: [`${TD}/client`],
      healthCheck: { path: "/health", intervalMillis: 5000 },
    });
    const serverSide = await run(server, { app: `127.0.0.1:${app.port}` });
    const hostname = "server.rules.svc.cluster.local";
    const client = node({
      name: "client",
      backends: ["server"],
      allowedServers: [`${TD}/server`],
      egress: [
        {
          virtualService: "server",
          hostname,
          routes: [
            {
              name: "all",
              target: {
                name: "server",
                namespace: "rules",
                podSelector: { app: "server" },
                trustDomain: TRUST_DOMAIN,
                identity: `${TD}/server`,
                healthCheck: { path: "/health", intervalMillis: 5000 },
              },
            },
          ],
        },
      ],
    });
    const cluster = client.static_resources.clusters.find((c: Json) => c.name.startsWith("cds_egress_"));
    edit(cluster);
    const egressListener = client.static_resources.listeners.find((l: Json) =>
      l.name.startsWith("lds_egress_"),
    );
    const egress = `127.0.0.1:${await freePort()}`;
    const clientSide = await run(client, {
      app: `127.0.0.1:${await freePort()}`,
      egress: { [egressListener.name]: egress },
      endpoints: { [`${hostname}:8080`]: `127.0.0.1:${serverSide.placement.ingressPort}` },
    });
    const call = () =>
      probe(`http://${egress}/`, { headers: { host: `${hostname}:8080` } }) as Promise<
        { status: number; body: string } | string
      >;
    return { clientSide, cluster: cluster.name as string, call };
  }

  it("an unhealthy single endpoint still takes requests at Envoy's default panic threshold, counted as panic", async () => {
    const { clientSide, cluster, call } = await unhealthyBackend();
    // Listeners open only after the first health check (Envoy's cluster warming): the host is already unhealthy.
    assert.match(
      await clientSide.admin("/clusters"),
      new RegExp(`^${cluster}::.*::health_flags::/failed_active_hc$`, "m"),
    );
    const r = await call();
    assert.deepEqual(typeof r === "string" ? r : [r.status, r.body], [200, "app"]);
    const stats = await clientSide.stats();
    assert.ok(statValue(stats, `cluster.${cluster}.health_check.failure`) >= 1, "the check failed");
    assert.ok(statValue(stats, `cluster.${cluster}.lb_healthy_panic`) >= 1, "routed in panic");
  });

  it("at a 0% panic threshold the unhealthy endpoint takes nothing: no healthy upstream", async () => {
    const { clientSide, cluster, call } = await unhealthyBackend((c) => {
      c.common_lb_config = { healthy_panic_threshold: { value: 0 } };
    });
    const r = await call();
    assert.deepEqual(typeof r === "string" ? r : [r.status, r.body], [503, "no healthy upstream"]);
    const stats = await clientSide.stats();
    assert.ok(statValue(stats, `cluster.${cluster}.upstream_cx_none_healthy`) >= 1);
    assert.equal(statValue(stats, `cluster.${cluster}.lb_healthy_panic`), 0);
  });
});
