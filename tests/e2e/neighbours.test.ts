/**
 * Stacks next to dev on one loopback cluster, under the real engine: a second project with its own SPIRE
 * (examples/consumer) and a 100-entry SpireEntrySet on dev's server. Dev goes up once, as committed, and its
 * entries must stay exactly the walkthrough's throughout. A file of its own so that it runs in parallel with the
 * dev stack's life in devStack.test.ts.
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { initStack, type PulumiStack, pulumi, pulumiOk } from "../../local/pulumiCli";
import { AGENT_ALIAS, changes, entriesOn, REPO_ROOT, TD, walkthroughEntries } from "./devEntries";
import { changesSince, type E2eCluster, inventory, startE2eCluster, workloadStatus } from "./support";

describe("stacks next to dev under the real engine on a loopback cluster", function () {
  this.timeout(240_000);
  let cluster: E2eCluster;
  const entries = () => entriesOn(cluster);
  /** Dev as committed: the walkthrough's four entries (green unregistered) and the agents' alias. */
  const dev = walkthroughEntries(3600);

  before(async () => {
    cluster = await startE2eCluster("spm-next-");
    const stack: PulumiStack = initStack({
      projectDir: REPO_ROOT,
      stack: "dev",
      workDir: path.join(cluster.workDir, "pulumi"),
      kubeconfig: cluster.state.kubeconfig,
    });
    await pulumiOk(stack, ["up", "--yes", "--skip-preview"]);
    assert.deepEqual(entries(), dev);
  });

  after(async () => {
    await cluster?.stop();
  });

  // A second stack on the same cluster while dev runs: its own SPIRE namespace, and cluster-scoped names that
  // derive from it, so nothing of one stack collides with or touches the other.
  it("1. examples/consumer goes up next to dev, both run, and its destroy leaves dev untouched", async () => {
    const consumer = initStack({
      projectDir: path.join(REPO_ROOT, "examples", "consumer"),
      stack: "dev",
      workDir: path.join(cluster.workDir, "pulumi"),
      kubeconfig: cluster.state.kubeconfig,
    });
    const beforeConsumer = await inventory(cluster.api);
    await pulumiOk(consumer, ["up", "--yes", "--skip-preview"]);
    assert.deepEqual(await workloadStatus(cluster.api), {
      ready: ["StatefulSet identity/spire-server (1/1)", "StatefulSet spire/spire-server (1/1)"],
      notReady: [],
      unplaced: [],
    });
    assert.deepEqual(
      entriesOn(cluster, "identity").map((e) => e.id),
      ["agents", "colorblue", "colorgreen", "colorred", "front", "ledger"].map(
        (n) => `spire-mesh-consumer.dev.${n}`,
      ),
    );
    assert.deepEqual(entries(), dev, "dev's server is untouched");
    // SPIRE's data volume is protected by default: destroy stops there until it is deliberately unprotected.
    const refused = await pulumi(consumer, ["destroy", "--yes", "--skip-preview"]);
    assert.notEqual(refused.status, 0);
    const claim =
      "spire-mesh:index:SpireInstallation$kubernetes:core/v1:PersistentVolumeClaim::spire-server-data";
    assert.match(
      refused.stdout + refused.stderr,
      new RegExp(`${claim.replace(/[$.]/g, "\\$&")}" cannot be deleted`),
    );
    await pulumiOk(consumer, [
      "state",
      "unprotect",
      `urn:pulumi:dev::spire-mesh-consumer::${claim}`,
      "--yes",
    ]);
    await pulumiOk(consumer, ["destroy", "--yes", "--skip-preview"]);
    assert.deepEqual(entries(), dev, "dev's entries survive the consumer's destroy");
    assert.deepEqual(await workloadStatus(cluster.api), {
      ready: ["StatefulSet spire/spire-server (1/1)"],
      notReady: [],
      unplaced: [],
    });
    assert.deepEqual(await changesSince(cluster.api, beforeConsumer), [], "the consumer left nothing");
  });

  // 100 entries behind one command resource: the set's create, its change by difference, and its delete, each
  // checked against the server's exact state, with dev's own entries untouched throughout.
  it("2. a 100-entry SpireEntrySet goes up, changes (10 added, 10 changed, 10 removed) and is destroyed", async () => {
    const bulk = initStack({
      projectDir: path.join(REPO_ROOT, "tests", "fixtures", "entry-set-project"),
      stack: "e2e",
      workDir: path.join(cluster.workDir, "pulumi"),
      kubeconfig: cluster.state.kubeconfig,
    });
    const configure = async (config: Record<string, number>) => {
      for (const [key, value] of Object.entries(config))
        await pulumiOk(bulk, ["config", "set", key, String(value)]);
    };
    const bulkEntries = () => entries().filter((e) => e.spiffeId.startsWith(`${TD}/ns/bulk/`));
    const expected = (first: number, last: number, longer: [number, number] = [-1, -1]) =>
      Array.from({ length: last - first + 1 }, (_, k) => first + k)
        .map((i) => ({
          id: `entry-set.e2e.svc-${i}`,
          spiffeId: `${TD}/ns/bulk/sa/svc-${i}`,
          parentId: AGENT_ALIAS,
          selectors: ["k8s:ns:bulk", `k8s:sa:svc-${i}`],
          ttl: i >= longer[0] && i <= longer[1] ? 1200 : 600,
        }))
        .sort((a, b) => a.id.localeCompare(b.id));

    await configure({ first: 0, last: 99 });
    await pulumiOk(bulk, ["up", "--yes", "--skip-preview"]);
    assert.deepEqual(bulkEntries(), expected(0, 99));

    await configure({ first: 10, last: 109, longerTtlFrom: 10, longerTtlTo: 19 });
    const preview = JSON.parse((await pulumiOk(bulk, ["preview", "--json"])).stdout);
    assert.deepEqual(changes(preview), ["update command:local:Command bulk-entries"], "one resource changes");
    await pulumiOk(bulk, ["up", "--yes", "--skip-preview"]);
    assert.deepEqual(bulkEntries(), expected(10, 109, [10, 19]));
    const exported = JSON.parse((await pulumiOk(bulk, ["stack", "output", "entryIds", "--json"])).stdout);
    assert.deepEqual(
      [...exported].sort(),
      expected(10, 109, [10, 19]).map((e) => e.id),
    );

    await pulumiOk(bulk, ["destroy", "--yes", "--skip-preview"]);
    assert.deepEqual(bulkEntries(), []);
    assert.deepEqual(
      entries().filter((e) => e.id.startsWith("spire-mesh.dev.")),
      dev,
      "dev's entries are untouched",
    );
  });
});
