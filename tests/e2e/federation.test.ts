/**
 * examples/federation under the real engine, on a loopback cluster of its own (so it runs next to the other
 * real-engine suites): one project, a file backend, two stacks. east goes up first (SPIRE and its bundle
 * endpoint only: west has published nothing), then west (bundle set of east's bundle read through its
 * StackReference, the caller federating with east), then east again (west's bundle, the greeter admitting west's
 * caller). Both real spire-servers then hold the peer's bundle and the federating entries; both stacks destroy
 * cleanly. Lean on purpose: one `up` per step, no previews.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { binary, serverSocketOf } from "../../local/cluster/cluster";
import { initStack, type PulumiStack, pulumiOk } from "../../local/pulumiCli";
import { changesSince, type E2eCluster, inventory, serverEntries, startE2eCluster } from "./support";

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const PROJECT = path.join(REPO_ROOT, "examples", "federation");

/** The federated bundles a real server holds, by trust domain. */
function federatedBundles(cluster: E2eCluster, namespace: string): string[] {
  const r = spawnSync(
    binary("spire-server"),
    [
      "bundle",
      "list",
      "-output",
      "json",
      "-socketPath",
      serverSocketOf(cluster.state.dir, namespace, "spire-server-0"),
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (r.status !== 0) throw new Error(`bundle list: ${r.stderr}`);
  return ((JSON.parse(r.stdout).bundles ?? []) as { trust_domain: string }[])
    .map((b) => b.trust_domain)
    .sort();
}

describe("examples/federation: east and west under the real engine", function () {
  this.timeout(240_000);
  let cluster: E2eCluster;
  let east: PulumiStack;
  let west: PulumiStack;
  let beforeUp: Awaited<ReturnType<typeof inventory>>;
  const started = Date.now();

  before(async () => {
    cluster = await startE2eCluster("spm-fed-e2e-");
    const workDir = path.join(cluster.workDir, "pulumi");
    const kubeconfig = cluster.state.kubeconfig;
    // Both stacks exist before the first up: a StackReference to a missing stack fails.
    east = initStack({ projectDir: PROJECT, stack: "east", workDir, kubeconfig });
    west = initStack({ projectDir: PROJECT, stack: "west", workDir, kubeconfig });
    // A throwaway cluster: destroy may remove the servers' data volumes.
    for (const stack of [east, west]) await pulumiOk(stack, ["config", "set", "protectData", "false"]);
    beforeUp = await inventory(cluster.api);
  });
  after(async () => {
    await cluster?.stop();
    console.log(`      federation e2e: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  });

  const up = (stack: PulumiStack) => pulumiOk(stack, ["up", "--yes", "--skip-preview"]);
  const outputs = async (stack: PulumiStack) =>
    JSON.parse((await pulumiOk(stack, ["stack", "output", "--json", "--show-secrets"])).stdout);

  it("east, west, east: each server federates with the other and holds the federating entries", async () => {
    const first = await up(east);
    assert.match(first.stdout + first.stderr, /has published no caller yet/);
    const eastOut = await outputs(east);
    assert.match(eastOut.bundle, /"keys"/);
    assert.doesNotMatch(eastOut.bundle, /PRIVATE KEY|"d":/);
    assert.equal(eastOut.bundleEndpointSpiffeId, "spiffe://east.example/spire/server");

    await up(west);
    assert.deepEqual(federatedBundles(cluster, "spire-west"), ["east.example"]);
    const caller = serverEntries(cluster.state, "spire-west").find(
      (e) => e.spiffe_id.path === "/ns/west/sa/caller",
    );
    assert.deepEqual((caller as unknown as { federates_with: string[] }).federates_with, ["east.example"]);

    await up(east);
    assert.deepEqual(federatedBundles(cluster, "spire-east"), ["west.example"]);
    const greeter = serverEntries(cluster.state, "spire-east").find(
      (e) => e.spiffe_id.path === "/ns/east/sa/greeter",
    );
    assert.deepEqual((greeter as unknown as { federates_with: string[] }).federates_with, ["west.example"]);
  });

  it("destroys both stacks cleanly", async () => {
    await pulumiOk(west, ["destroy", "--yes", "--skip-preview"]);
    await pulumiOk(east, ["destroy", "--yes", "--skip-preview"]);
    assert.deepEqual(await changesSince(cluster.api, beforeUp), []);
  });
});
