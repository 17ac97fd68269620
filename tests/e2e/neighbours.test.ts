/**
 * Stacks next to dev on one loopback cluster, under the real engine: a second project with its own SPIRE
 * (examples/consumer) and a 100-entry SpireEntrySet on dev's server. Dev goes up once, as committed, and its
 * entries must stay exactly the walkthrough's throughout. A file of its own so that it runs in parallel with the
 * dev stack's life in devStack.test.ts.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as path from "node:path";
import { initStack, type PulumiStack, pulumi, pulumiOk } from "../../local/pulumiCli";
import { spireManifests } from "../../spire/manifests";
import { spireSettings } from "../../spire/settings";
import {
  AGENT_ALIAS,
  changes,
  driftReported,
  entriesOn,
  type Json,
  REPO_ROOT,
  TD,
  walkthroughEntries,
} from "./devEntries";
import {
  changesSince,
  type E2eCluster,
  inventory,
  plantEntry,
  serverCli,
  startE2eCluster,
  waitUntil,
  workloadStatus,
} from "./support";

/** What one installation's node-level pods claim on their node, read from the pods the controllers created. */
async function nodeClaims(cluster: E2eCluster, namespace: string) {
  const podOf = async (app: string) => {
    const r = await cluster.api.get(`/api/v1/namespaces/${namespace}/pods?labelSelector=app%3D${app}`);
    assert.equal(r.body.items.length, 1, `one ${namespace}/${app} pod on the one node`);
    return r.body.items[0].spec;
  };
  const hostPathOf = (spec: Json, volume: string) =>
    spec.volumes.find((v: Json) => v.name === volume).hostPath.path as string;
  const agent = await podOf("spire-agent");
  const csi = await podOf("spiffe-csi-driver");
  const driverArgs: string[] = csi.containers[0].args;
  return {
    node: agent.nodeName as string,
    socketDir: hostPathOf(agent, "spire-agent-socket"),
    hostPorts: (agent.containers[0].ports as Json[]).map((p) => p.hostPort as number),
    csiDriver: driverArgs[driverArgs.indexOf("-plugin-name") + 1],
    csiSocketDir: hostPathOf(csi, "spire-agent-socket-dir"),
  };
}

/** The CSI driver a Deployment's pods reach the Workload API through. */
async function csiDriverOf(cluster: E2eCluster, namespace: string, deployment: string): Promise<string> {
  const r = await cluster.api.get(`/apis/apps/v1/namespaces/${namespace}/deployments/${deployment}`);
  const volumes: Json[] = r.body.spec.template.spec.volumes;
  return volumes.find((v) => v.name === "spire-agent-socket").csi.driver;
}

const certificates = (pem: string) =>
  [...pem.matchAll(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)].map(
    (m) => new X509Certificate(m[0]),
  );

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

    // Both installations on their defaults, on the one node: the real scheduler placed both agents (hostPorts
    // declared: a shared port would have left one Pending), and nothing they claim on the node is shared.
    const devClaims = await nodeClaims(cluster, "spire");
    const consumerClaims = await nodeClaims(cluster, "identity");
    assert.equal(devClaims.node, consumerClaims.node);
    assert.equal(devClaims.socketDir, "/run/spire/sockets", "the default installation keeps App Mesh's path");
    assert.notEqual(consumerClaims.socketDir, devClaims.socketDir);
    assert.ok(
      devClaims.hostPorts.length > 0 && consumerClaims.hostPorts.length > 0,
      "the agents claim ports",
    );
    assert.deepEqual(
      consumerClaims.hostPorts.filter((p) => devClaims.hostPorts.includes(p)),
      [],
      `host ports ${consumerClaims.hostPorts} and ${devClaims.hostPorts}`,
    );
    // Each stack's pods reach its own agents: through its own CSI driver, which serves its own agent's directory.
    for (const [claims, namespace, deployment] of [
      [devClaims, "howto-k8s-mtls-sds-based", "front"],
      [consumerClaims, "ledger", "ledger"],
    ] as const) {
      assert.equal(claims.csiSocketDir, claims.socketDir);
      assert.equal(await csiDriverOf(cluster, namespace, deployment), claims.csiDriver);
    }
    assert.notEqual(devClaims.csiDriver, consumerClaims.csiDriver);
    // Both servers issue, each under its own CA only: an SVID of one does not verify against the other's roots.
    const roots = {
      spire: certificates(serverCli(cluster.state, ["bundle", "show"], "spire")),
      identity: certificates(serverCli(cluster.state, ["bundle", "show"], "identity")),
    };
    for (const [namespace, id, other] of [
      ["spire", `${TD}/probe`, "identity"],
      ["identity", "spiffe://example.org/probe", "spire"],
    ] as const) {
      const [svid] = certificates(
        serverCli(cluster.state, ["x509", "mint", "-spiffeID", id, "-ttl", "5m"], namespace),
      );
      assert.equal(svid.subjectAltName, `URI:${id}`);
      assert.ok(
        roots[namespace].some((root) => svid.verify(root.publicKey)),
        `${namespace} issued ${id}`,
      );
      assert.ok(!roots[other].some((root) => svid.verify(root.publicKey)), `${other}'s roots refuse it`);
    }

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

    // Drift in a set, on a server that also holds dev's entries: one member deleted, one made -downstream with a
    // hint, a stray planted under the set's stack's prefix. The check reports those and none of dev's.
    const drift = (...extra: string[]) => {
      const r = spawnSync(
        process.execPath,
        [path.join(REPO_ROOT, "bin", "spire-drift.js"), "--stack", "e2e", ...extra],
        {
          cwd: bulk.projectDir,
          env: bulk.env,
          encoding: "utf8",
          timeout: 120_000,
        },
      );
      return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };
    const member = (i: number) => expected(i, i)[0];
    serverCli(cluster.state, ["entry", "delete", "-entryID", member(5).id]);
    plantEntry(cluster.state, "update", member(7), "-downstream", "-hint", "planted");
    const stray = { ...member(100), id: "entry-set.e2e.stray" };
    plantEntry(cluster.state, "create", stray);
    const drifted = drift();
    assert.equal(drifted.status, 1, drifted.out);
    assert.deepEqual(driftReported(drifted.out), [
      [
        `  changed     ${member(7).id} (${member(7).spiffeId}), declared by SpireEntrySet bulk`,
        "                downstream: true → false",
        '                hint: "planted" → ""',
      ],
      [`  missing     ${member(5).id} (${member(5).spiffeId}), declared by SpireEntrySet bulk`],
      [`  unexpected  entry-set.e2e.stray (${stray.spiffeId}), declared by no resource of the stack`],
    ]);
    assert.match(
      drifted.out,
      /entry-set\/e2e: drift: 1 missing, 1 changed, 1 unexpected; 98 of 100 declared/,
    );
    const repaired = drift("--repair");
    assert.equal(repaired.status, 0, repaired.out);
    assert.deepEqual(repaired.out.match(/^repair: .*$/gm), [
      "repair: SpireEntrySet bulk: its update step",
      "repair: delete 1 unexpected entry (entry-set.e2e.stray)",
    ]);
    assert.deepEqual(bulkEntries(), expected(0, 99));
    assert.match(drift().out, /entry-set\/e2e: no drift: all 100 declared entries on 1 server as declared/);
    assert.deepEqual(
      entries().filter((e) => e.id.startsWith("spire-mesh.dev.")),
      dev,
      "dev's entries are untouched",
    );

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

  // A port the derivation cannot keep apart (given explicitly here) is refused where it would collide: the agent
  // claims it as a hostPort, so the real scheduler leaves the second agent Pending and says why, rather than
  // letting it crash-loop on a taken port.
  it("3. an installation whose agents claim dev's health port stays Pending, with the scheduler's reason", async () => {
    const clash = spireSettings({ trustDomain: "clash.example", namespace: "clash", agentHealthPort: 9982 });
    const manifests = spireManifests(clash);
    const create = async (collection: string, object: Json) => {
      const r = await cluster.api.request("POST", collection, object);
      assert.equal(r.status, 201, `${collection}: ${JSON.stringify(r.body)}`);
    };
    await create("/api/v1/namespaces", manifests.namespace);
    try {
      await create("/api/v1/namespaces/clash/serviceaccounts", manifests.agentServiceAccount);
      await create("/apis/apps/v1/namespaces/clash/daemonsets", manifests.agentDaemonSet);
      let verdict = "";
      await waitUntil("the clashing agent's scheduling verdict", async () => {
        const pods = (await cluster.api.get("/api/v1/namespaces/clash/pods")).body.items as Json[];
        const condition = pods[0]?.status?.conditions?.find((c: Json) => c.type === "PodScheduled");
        if (condition?.status === "True") verdict = `scheduled on ${pods[0].spec.nodeName}`;
        if (condition?.status === "False") verdict = `${condition.reason}: ${condition.message}`;
        return verdict !== "";
      });
      assert.match(verdict, /^Unschedulable: .*didn't have free ports for the requested pod ports/);
      // Dev's agent, from the same builder but on its own port, is placed and stays so.
      assert.deepEqual(
        (await workloadStatus(cluster.api)).unplaced.filter((w) => !w.includes(" clash/")),
        [],
      );
    } finally {
      const r = await cluster.api.request("DELETE", "/api/v1/namespaces/clash");
      assert.ok([200, 202].includes(r.status), JSON.stringify(r.body));
    }
  });
});
