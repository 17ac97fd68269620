/**
 * The secret names our rendered Envoy bootstraps request, fetched over SDS from real SPIRE the way Envoy does
 * (one subscription per secret, with the bootstrap's node metadata). Entries are the dev stack's own plans, run
 * through the entry runner, with only the selectors swapped for the local unix attestor.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import * as grpc from "@grpc/grpc-js";
import { fetchSecrets, SdsError, type SdsNode } from "../../local/sdsClient";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { PROPAGATION_MS } from "../../local/waitUntil";
import { assertChainsToBundle, certificates } from "../../local/x509";
import { requestedSecretNames } from "../../mesh/envoyBootstrap";
import { entryCommands, entryPlans, type ResolvedEntry } from "../../spire/entries";
import { mountedConfigMap, renderStack } from "../support/render";

const NS = "howto-k8s-mtls-sds-based";
const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const RUNNER = path.resolve(__dirname, "../../bin/spire-entry.js");

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are plain JSON.
type Bootstrap = any;

describe("secret names of the rendered bootstraps, served by real SPIRE", function () {
  this.timeout(300_000);
  let spire: SpireHarness;
  const bootstraps: Record<string, Bootstrap> = {};

  before(async () => {
    const r = await renderStack("dev");
    for (const name of ["front", "blue", "green", "red"]) {
      bootstraps[name] = JSON.parse(
        mountedConfigMap(r, "Deployment", name, NS, "envoy-bootstrap").data["bootstrap.json"],
      );
    }
    // The agent takes on the node alias the workload entries name as parent, as k8s_psat agents do in-cluster.
    spire = await startSpire({ agentAlias: `${TD}/ns/spire/sa/spire-agent` });
    for (const command of r.resources.filter((x) => x.type === "command:local:Command")) {
      const plan = JSON.parse((command.inputs as { create: string }).create);
      const entry = plan.expect as ResolvedEntry;
      if (entry.parentId.endsWith("/spire/server")) continue; // the k8s_psat node entry; the alias stands in
      const [type, value] = spire.workloadSelector.split(/:(.*)/s);
      const local: ResolvedEntry = { ...entry, selectors: [{ type, value }] };
      const { create } = entryPlans(entryCommands([spire.serverBin], local, spire.serverSocket), local);
      const result = spawnSync(process.execPath, [RUNNER, create], { encoding: "utf8" });
      assert.equal(result.status, 0, result.stderr);
    }
  });
  after(async () => spire?.stop());

  /** Each name on its own, with the bootstrap's node, retried while the new entries propagate. */
  async function fetchAsEnvoy(bootstrap: Bootstrap, name: string) {
    const node: SdsNode = {
      id: bootstrap.node.id,
      cluster: bootstrap.node.cluster,
      metadata: bootstrap.node.metadata,
    };
    const deadline = Date.now() + PROPAGATION_MS;
    for (;;) {
      try {
        return await fetchSecrets(spire.agentSocket, [name], { node });
      } catch (e) {
        if (Date.now() > deadline || !(e instanceof SdsError)) throw e;
        await delay(500);
      }
    }
  }

  for (const [node, identity] of [
    ["front", `${TD}/front`],
    ["blue", `${TD}/colorblue`],
    ["red", `${TD}/colorred`],
  ]) {
    it(`${node}: every requested name is served; the SVID is ${identity} and chains to the bundle`, async () => {
      const names = requestedSecretNames(bootstraps[node]);
      assert.deepEqual(names, [TD, identity]);
      const [certificate] = await fetchAsEnvoy(bootstraps[node], identity);
      const [bundle] = await fetchAsEnvoy(bootstraps[node], TD);
      assert.equal(certificate.name, identity);
      assert.ok(certificate.tlsCertificate?.hasPrivateKey);
      const chain = certificates(certificate.tlsCertificate?.certificateChainPem ?? "");
      assert.equal(chain[0].subjectAltName, `URI:${identity}`);
      // The bootstrap asks for plain X.509 validation (node metadata), so SPIRE sends trusted_ca.
      assert.ok(bundle.validationContext?.trustedCaPem, "a trusted_ca bundle");
      assert.equal(bundle.validationContext?.spiffe, undefined);
      assertChainsToBundle(chain, certificates(bundle.validationContext?.trustedCaPem ?? ""));
    });
  }

  it("green (no entry until registerGreen): its certificate name cannot be served, as the walkthrough shows", async () => {
    const names = requestedSecretNames(bootstraps.green);
    assert.deepEqual(names, [TD, `${TD}/colorgreen`]);
    await assert.rejects(
      fetchSecrets(spire.agentSocket, [`${TD}/colorgreen`], {
        node: { metadata: bootstraps.green.node.metadata },
      }),
      (e: unknown) =>
        e instanceof SdsError && e.code === grpc.status.INVALID_ARGUMENT && /not authorized/.test(e.details),
    );
  });
});
