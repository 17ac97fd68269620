/**
 * The SPIRE agent's Secret Discovery Service as an Envoy sidecar sees it: the secret names our bootstraps request
 * (the SPIFFE ID for the certificate, spiffe://<td> for the bundle), both validation-context forms, the errors for
 * names SPIRE cannot serve, and a StreamSecrets subscription that receives a re-minted SVID after an entry update.
 */
import * as assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, type X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import {
  fetchSecrets,
  SdsError,
  type SdsSecret,
  type SdsVersion,
  streamSecrets,
} from "../../local/sdsClient";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS } from "../../local/waitUntil";
import { assertChainsToBundle, certificates, lifetimeSeconds } from "../../local/x509";

/** SPIRE backdates notBefore a little (clock skew), so a lifetime is the TTL give or take this. */
const LIFETIME_SLACK_SECONDS = 60;

/** `version_info/nonce` of every StreamSecrets request the agent logged (at DEBUG). */
function loggedStreamRequests(agentLog: string): Set<string> {
  const requests = new Set<string>();
  for (const line of agentLog.split("\n")) {
    if (!line.includes('msg="Received StreamSecrets request"')) continue;
    const field = (key: string) => new RegExp(`\\s${key}=(\\S*)`).exec(line)?.[1] ?? "";
    requests.add(`${field("version_info")}/${field("nonce")}`);
  }
  return requests;
}

const fingerprints = (certs: readonly X509Certificate[]): string[] => certs.map((c) => c.fingerprint256);

function onlySecret(secrets: readonly SdsSecret[], name: string): SdsSecret {
  assert.deepEqual(
    secrets.map((s) => s.name),
    [name],
  );
  return secrets[0];
}

/** What a failed request must look like: InvalidArgument, "not authorized", naming the refused secret. */
const notAuthorized = (refused: string) => (error: unknown) => {
  assert.ok(error instanceof SdsError, `expected an SdsError, got ${error}`);
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  assert.match(error.details, /workload is not authorized for the requested identities/);
  assert.ok(error.details.includes(JSON.stringify(refused)), error.details);
  return true;
};

describe("SPIRE agent SDS, as an Envoy sidecar uses it", function () {
  this.timeout(300_000);
  let spire: SpireHarness;
  let trustDomainId: string;
  let frontId: string;
  let blueId: string;

  const createEntry = (entryId: string, spiffeId: string) => {
    const created = spire.server([
      "entry",
      "create",
      "-entryID",
      entryId,
      "-parentID",
      spire.agentId,
      "-spiffeID",
      spiffeId,
      "-selector",
      spire.workloadSelector,
    ]);
    assert.equal(created.status, 0, created.stderr);
  };

  before(async () => {
    // DEBUG makes the agent log each StreamSecrets request with its version_info and nonce: the ACK check reads them.
    spire = await startSpire({ settings: { logLevel: "DEBUG" } });
    trustDomainId = `spiffe://${spire.trustDomain}`;
    frontId = `${trustDomainId}/front`;
    blueId = `${trustDomainId}/colorblue`;
    createEntry("sds-front", frontId);
    createEntry("sds-colorblue", blueId);

    // New entries reach the agent after a server cache reload and an agent sync; until then SDS says
    // "not authorized" for them.
    const deadline = Date.now() + PROPAGATION_MS;
    for (;;) {
      try {
        await fetchSecrets(spire.agentSocket, [frontId, blueId]);
        return;
      } catch (error) {
        const retryable = error instanceof SdsError && error.code === grpc.status.INVALID_ARGUMENT;
        if (!retryable || Date.now() > deadline) throw error;
        await delay(500);
      }
    }
  });

  after(async () => {
    await spire?.stop();
  });

  it("serves the certificate under its SPIFFE ID, with a matching key, chaining to the spiffe://<td> bundle", async () => {
    const secret = onlySecret(await fetchSecrets(spire.agentSocket, [frontId]), frontId);
    const tls = secret.tlsCertificate;
    assert.ok(tls, "the SVID secret carries a tls_certificate");
    const chain = certificates(tls.certificateChainPem);
    const leaf = chain[0];
    assert.equal(leaf.subjectAltName, `URI:${frontId}`);

    // The entry sets no TTL, so the server's default_x509_svid_ttl applies.
    const now = Date.now();
    assert.ok(Date.parse(leaf.validFrom) <= now && now < Date.parse(leaf.validTo));
    const expected = spire.settings.x509SvidTtlSeconds;
    assert.ok(
      Math.abs(lifetimeSeconds(leaf) - expected) <= LIFETIME_SLACK_SECONDS,
      `lifetime vs ${expected}`,
    );

    // The key is held in memory only; it must be the leaf's key pair.
    assert.equal(tls.hasPrivateKey, true);
    const spki = (key: ReturnType<typeof createPublicKey>) => key.export({ type: "spki", format: "der" });
    assert.deepEqual(spki(createPublicKey(createPrivateKey(tls.privateKeyPem()))), spki(leaf.publicKey));

    const bundle = onlySecret(await fetchSecrets(spire.agentSocket, [trustDomainId]), trustDomainId);
    const roots = certificates(bundle.validationContext?.spiffe?.[0]?.bundlePem ?? "");
    assertChainsToBundle(chain, roots);
  });

  it("serves spiffe://<td> in the SPIFFE validator form by default, holding the server's bundle", async () => {
    const secret = onlySecret(await fetchSecrets(spire.agentSocket, [trustDomainId]), trustDomainId);
    const context = secret.validationContext;
    assert.ok(context, "the bundle secret carries a validation_context");
    assert.equal(context.trustedCaPem, undefined);
    assert.deepEqual(
      context.spiffe?.map((td) => td.trustDomain),
      [spire.trustDomain],
    );
    const serverBundle = spire.server(["bundle", "show"]);
    assert.equal(serverBundle.status, 0, serverBundle.stderr);
    assert.deepEqual(
      fingerprints(certificates(context.spiffe[0].bundlePem)),
      fingerprints(certificates(serverBundle.stdout)),
    );
  });

  it("serves a plain trusted_ca with node metadata disable_spiffe_cert_validation, or to Envoy < 1.18", async () => {
    const spiffeForm = onlySecret(await fetchSecrets(spire.agentSocket, [trustDomainId]), trustDomainId);
    const expectedRoots = fingerprints(
      certificates(spiffeForm.validationContext?.spiffe?.[0]?.bundlePem ?? ""),
    );
    const nodes = [
      { metadata: { disable_spiffe_cert_validation: true } },
      { metadata: { disable_spiffe_cert_validation: "true" } },
      { envoyVersion: "1.17.0" },
    ];
    for (const node of nodes) {
      const secret = onlySecret(
        await fetchSecrets(spire.agentSocket, [trustDomainId], { node }),
        trustDomainId,
      );
      const context = secret.validationContext;
      assert.equal(context?.spiffe, undefined, JSON.stringify(node));
      assert.deepEqual(
        fingerprints(certificates(context?.trustedCaPem ?? "")),
        expectedRoots,
        JSON.stringify(node),
      );
    }
  });

  it("serves only one of spiffe://<td>, ROOTCA and ALL per request", async () => {
    assert.equal((await fetchSecrets(spire.agentSocket, ["ROOTCA"])).length, 1);
    await assert.rejects(fetchSecrets(spire.agentSocket, [trustDomainId, "ROOTCA"]), notAuthorized("ROOTCA"));
  });

  it("refuses names it cannot serve with InvalidArgument 'not authorized', even next to a valid one", async () => {
    const unregistered = `${trustDomainId}/colorgreen`;
    const foreignSvid = "spiffe://other.example/front";
    const foreignBundle = "spiffe://other.example";
    await assert.rejects(fetchSecrets(spire.agentSocket, [unregistered]), notAuthorized(unregistered));
    await assert.rejects(fetchSecrets(spire.agentSocket, [foreignSvid]), notAuthorized(foreignSvid));
    await assert.rejects(fetchSecrets(spire.agentSocket, [foreignBundle]), notAuthorized(foreignBundle));
    await assert.rejects(
      fetchSecrets(spire.agentSocket, [frontId, unregistered]),
      notAuthorized(unregistered),
    );
    // A stream fails the same way and ends: Envoy has to reconnect once the entry has reached the agent.
    const stream = streamSecrets(spire.agentSocket, [unregistered]);
    try {
      await assert.rejects(stream.next(10_000), notAuthorized(unregistered));
    } finally {
      stream.close();
    }
  });

  it("streams a new version with a re-minted SVID after an entry update, accepting every ACK", async () => {
    const stream = streamSecrets(spire.agentSocket, [blueId]);
    try {
      const first = await stream.next(10_000);
      assert.notEqual(first.versionInfo, "");
      assert.notEqual(first.nonce, "");
      const firstLeaf = certificates(
        onlySecret(first.secrets, blueId).tlsCertificate?.certificateChainPem ?? "",
      )[0];

      const ttlSeconds = 1800;
      const updated = spire.server([
        "entry",
        "update",
        "-entryID",
        "sds-colorblue",
        "-parentID",
        spire.agentId,
        "-spiffeID",
        blueId,
        "-selector",
        spire.workloadSelector,
        "-x509SVIDTTL",
        String(ttlSeconds),
      ]);
      assert.equal(updated.status, 0, updated.stderr);

      // SPIRE pushes on every change to the workload's cache, so skip versions until the certificate changes.
      const deadline = Date.now() + PROPAGATION_MS;
      let rotated: { version: SdsVersion; leaf: X509Certificate } | undefined;
      while (!rotated) {
        const version = await stream.next(Math.max(deadline - Date.now(), 1));
        const pem = onlySecret(version.secrets, blueId).tlsCertificate?.certificateChainPem ?? "";
        const leaf = certificates(pem)[0];
        if (leaf.serialNumber !== firstLeaf.serialNumber) rotated = { version, leaf };
      }

      assert.ok(Number(rotated.version.versionInfo) > Number(first.versionInfo), rotated.version.versionInfo);
      assert.notEqual(rotated.version.nonce, first.nonce);
      assert.equal(rotated.leaf.subjectAltName, `URI:${blueId}`);
      assert.ok(Math.abs(lifetimeSeconds(rotated.leaf) - ttlSeconds) <= LIFETIME_SLACK_SECONDS);

      // Every push was ACKed with exactly its version_info and nonce, and none was taken for a NACK. (A
      // "Received unexpected nonce" warning is no failure: an ACK that crosses a newer push is stale, for Envoy too.)
      const pushes = stream.received.map((v) => `${v.versionInfo}/${v.nonce}`);
      const ackDeadline = Date.now() + 30_000;
      let unacked = pushes;
      let agentLog = "";
      while (unacked.length > 0 && Date.now() < ackDeadline) {
        await delay(100);
        agentLog = fs.readFileSync(path.join(spire.dataDir, "agent.log"), "utf8");
        const acks = loggedStreamRequests(agentLog);
        unacked = pushes.filter((push) => !acks.has(push));
      }
      assert.deepEqual(unacked, [], "pushes the agent never saw ACKed");
      assert.doesNotMatch(agentLog, /Client rejected expected version/);
    } finally {
      stream.close();
    }
  });
});
