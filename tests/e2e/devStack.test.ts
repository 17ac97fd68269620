/**
 * The dev stack under the real engine: Pulumi CLI 3.276.0, its Node.js language host, the real Kubernetes
 * provider, a loopback control plane with a kwok node, and the real SPIRE server 1.13.3 behind the spire-server
 * pod. Entries travel engine -> command resource (stand-in plugin) -> bin/spire-entry.js -> kubectl exec ->
 * API server -> kwok -> spire-server CLI -> server. Each step asserts what the engine, the cluster and the server
 * report. The steps build on each other in the order of a stack's life. Other stacks next to dev on one cluster
 * are in neighbours.test.ts, so that the two files run in parallel.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { binary } from "../../local/cluster/cluster";
import {
  initStack,
  killRunning,
  type PulumiStack,
  pulumi,
  pulumiOk,
  recoverInterruptedUpdate,
  stackLocks,
} from "../../local/pulumiCli";
import { kubernetesObjects, renderStack } from "../support/render";
import {
  AGENT_ALIAS,
  changes,
  driftReported,
  entriesOn,
  type Json,
  REPO_ROOT,
  TD,
  walkthroughEntries,
  withGateway,
} from "./devEntries";
import { CASES, type Interrupted, interruptedUp } from "./interruptedUp";
import {
  changesSince,
  type E2eCluster,
  inventory,
  plantEntry,
  serverCli,
  serverEntries,
  startE2eCluster,
  workloadStatus,
} from "./support";

/**
 * The documented exceptions to Pod Security `restricted` (docs/security.md, "Pod Security"): what the real API server
 * reports for the only two workloads that need the host.
 */
const PRIVILEGED_EXCEPTIONS: Record<string, string[]> = {
  "spire-agent": [
    "host namespaces (hostNetwork=true, hostPID=true)",
    // Declared so that the scheduler refuses a second installation's agent on the same port (Pending).
    'hostPort (container "spire-agent" uses hostPort 9982)',
    'probe or lifecycle host (container "spire-agent" uses probe or lifecycle host "127.0.0.1")',
    'restricted volume types (volume "spire-agent-socket" uses restricted volume type "hostPath")',
    'runAsNonRoot != true (pod or container "spire-agent" must set securityContext.runAsNonRoot=true)',
  ],
  "spiffe-csi-driver": [
    'privileged (container "spiffe-csi-driver" must not set securityContext.privileged=true)',
    'allowPrivilegeEscalation != false (container "spiffe-csi-driver" must set securityContext.allowPrivilegeEscalation=false)',
    'restricted volume types (volumes "spire-agent-socket-dir", "spiffe-csi-socket-dir", "mountpoint-dir", "kubelet-plugin-registration-dir" use restricted volume type "hostPath")',
    'runAsNonRoot != true (pod or containers "spiffe-csi-driver", "node-driver-registrar" must set securityContext.runAsNonRoot=true)',
  ],
};

/** Server-side dry run of every workload of a render; the PodSecurity warnings the API server answers with. */
function podSecurityWarnings(cluster: E2eCluster, render: Awaited<ReturnType<typeof renderStack>>): Json {
  const workloads = kubernetesObjects(render).filter((o) =>
    ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind),
  );
  const found: Record<string, string[]> = {};
  for (const w of workloads) {
    const r = spawnSync(binary("kubectl"), ["apply", "--dry-run=server", "-f", "-"], {
      input: JSON.stringify(w),
      encoding: "utf8",
      env: { ...process.env, KUBECONFIG: cluster.state.kubeconfig },
    });
    assert.equal(r.status, 0, r.stderr);
    const warning = /Warning: would violate PodSecurity "restricted:latest": (.*)/.exec(r.stderr)?.[1];
    if (warning) found[`${w.kind} ${w.metadata.namespace}/${w.metadata.name}`] = warning.split(/(?<=\)), /);
  }
  return found;
}

describe("dev stack under the real engine on a loopback cluster", function () {
  this.timeout(240_000);
  let cluster: E2eCluster;
  let stack: PulumiStack;

  const entries = () => entriesOn(cluster);
  const setConfig = (key: string, value: string) => pulumiOk(stack, ["config", "set", key, value]);
  const previewJson = async () => JSON.parse((await pulumiOk(stack, ["preview", "--json"])).stdout);
  const up = () => pulumiOk(stack, ["up", "--yes", "--skip-preview"]);

  before(async () => {
    cluster = await startE2eCluster("spm-e2e-", { taintedNode: true });
    stack = initStack({
      projectDir: REPO_ROOT,
      stack: "dev",
      workDir: path.join(cluster.workDir, "pulumi"),
      kubeconfig: cluster.state.kubeconfig,
    });
  });

  // A failed step leaves the stack usable by the next: no CLI of it still running, no lock, no pending create.
  // Each later step states what it needs of the earlier ones, so a failure is reported where it happens.
  afterEach(async function () {
    if (this.currentTest?.state !== "failed") return;
    const done = [`killed ${killRunning(stack)} running CLI(s)`];
    if (stackLocks(stack).length > 0) {
      done.push(`cancel: exit ${(await pulumi(stack, ["cancel", "--yes"])).status}`);
    }
    const exported = await pulumi(stack, ["stack", "export"]);
    if (
      exported.status === 0 &&
      (JSON.parse(exported.stdout).deployment.pending_operations ?? []).length > 0
    ) {
      // The documented recovery to its end: the up creates again what was pending, converging on whatever
      // the interrupted update had already made (an entry it created must not stay behind, unrecorded).
      for (const step of [
        ["refresh", "--yes", "--clear-pending-creates"],
        ["up", "--yes", "--skip-preview"],
      ]) {
        done.push(`${step[0]}: exit ${(await pulumi(stack, step)).status}`);
      }
    }
    console.log(`      after the failure of "${this.currentTest.title}": ${done.join("; ")}`);
  });

  after(async () => {
    await cluster?.stop();
  });

  /**
   * Dev up and settled: the SPIRE server Ready (the one pod a real process backs, so the one Ready that means
   * anything), and every workload's pods, the gateway's too, created from the current template and placed.
   */
  const settled = { ready: ["StatefulSet spire/spire-server (1/1)"], notReady: [], unplaced: [] };
  /** Everything in the cluster before dev's first up: what its destroy must return the cluster to. */
  let beforeUp: Awaited<ReturnType<typeof inventory>>;
  const GREEN = { resource: "colorgreen-entry", entryId: "spire-mesh.dev.colorgreen" };

  /** What a converged recovery shows: no pending operation, one state resource and one entry per ID. */
  const assertConverged = async (killed: Interrupted, expected: ReturnType<typeof walkthroughEntries>) => {
    const shown = entries();
    assert.deepEqual(shown, expected);
    const ids = shown.map((e) => e.id);
    assert.deepEqual(ids, [...new Set(ids)], "one entry per ID");
    const identities = shown.map((e) => `${e.parentId} ${e.spiffeId} ${e.selectors.join(",")}`);
    assert.deepEqual(identities, [...new Set(identities)], "no second entry under another ID");
    const deployment = JSON.parse(
      (await pulumiOk(stack, ["stack", "export", "--show-secrets"])).stdout,
    ).deployment;
    assert.deepEqual(deployment.pending_operations ?? [], []);
    const green = (deployment.resources as Json[]).filter((r) => r.urn.endsWith(`::${GREEN.resource}`));
    assert.equal(green.length, 1);
    // What green's runner met on the server when its create last ran: an entry the killed up had already
    // created is found and compared (AlreadyExists, then show), not created twice.
    const outcome = {
      [CASES.beforeServer]: "created",
      [CASES.onServerPending]: "unchanged",
      [CASES.recorded]: "created",
    }[killed.case];
    // The command's environment (a kubeconfig) is secret, so the engine keeps its stdout secret too.
    const stdout = green[0].outputs.stdout;
    const text = typeof stdout === "string" ? stdout : JSON.parse(stdout.plaintext);
    assert.deepEqual(JSON.parse(text), { entryId: GREEN.entryId, outcome });
    assert.deepEqual(await workloadStatus(cluster.api), settled);
  };

  it("1. preview creates exactly what the offline render registers, and warns about green", async () => {
    beforeUp = await inventory(cluster.api);
    const preview = await previewJson();
    const render = await renderStack("dev");
    const expected = render.resources.map((r) => `create ${r.type} ${r.name}`);
    // The engine also creates the stack itself and the default providers it needs.
    const engineOnly = changes(preview).filter((c) => !expected.includes(c));
    assert.deepEqual(
      engineOnly.filter((c) => !/^create (pulumi:pulumi:Stack|pulumi:providers:)/.test(c)),
      [],
    );
    assert.deepEqual(
      expected.filter((c) => !changes(preview).includes(c)),
      [],
    );
    assert.equal(preview.changeSummary.create, changes(preview).length);
    const warnings = (preview.diagnostics ?? [])
      .filter((d: Json) => d.severity === "warning")
      .map((d: Json) => d.message);
    assert.ok(
      warnings.some((w: string) => w.includes(`${TD}/colorgreen has no SPIRE entry`)),
      `no green warning in: ${warnings.join(" | ")}`,
    );
  });

  it("2. up: every workload Ready, and the server holds exactly the walkthrough's four entries", async () => {
    await up();
    assert.deepEqual(await workloadStatus(cluster.api), settled);
    assert.deepEqual(entries(), walkthroughEntries(3600));
  });

  it("2a. the agent and the CSI driver run on every node, the tainted one too; the apps stay off it", async () => {
    const pods = (await cluster.api.get("/api/v1/pods")).body.items as Json[];
    const nodesOf = (namespace: string, label: string) =>
      pods
        .filter((p) => p.metadata.namespace === namespace && p.metadata.labels?.app === label)
        .map((p) => p.spec.nodeName)
        .sort();
    assert.deepEqual(nodesOf("spire", "spire-agent"), [...cluster.state.nodes].sort());
    assert.deepEqual(nodesOf("spire", "spiffe-csi-driver"), [...cluster.state.nodes].sort());
    const tainted = cluster.state.nodes[1];
    const apps = pods.filter((p) => p.metadata.namespace === "howto-k8s-mtls-sds-based");
    assert.equal(apps.length, 4);
    assert.deepEqual(
      apps.filter((p) => p.spec.nodeName === tainted).map((p) => p.metadata.name),
      [],
    );
  });

  it("2b. Pod Security: no warning at restricted for the apps; in spire, exactly the agent's and CSI driver's", async () => {
    const namespaces = (await cluster.api.get("/api/v1/namespaces")).body.items.map((n: Json) => [
      n.metadata.name,
      n.metadata.labels ?? {},
    ]);
    const labels = Object.fromEntries(namespaces);
    assert.equal(labels["howto-k8s-mtls-sds-based"]["pod-security.kubernetes.io/enforce"], "restricted");
    assert.equal(labels.spire["pod-security.kubernetes.io/enforce"], "privileged");
    assert.equal(labels.spire["pod-security.kubernetes.io/warn"], "restricted");
    // Every workload the stack created, submitted again as a server-side dry run: the API server evaluates each
    // pod template against its namespace's warn level and answers with the violations.
    const warnings = podSecurityWarnings(cluster, await renderStack("dev"));
    assert.deepEqual(warnings, {
      "DaemonSet spire/spiffe-csi-driver": PRIVILEGED_EXCEPTIONS["spiffe-csi-driver"],
      "DaemonSet spire/spire-agent": PRIVILEGED_EXCEPTIONS["spire-agent"],
    });
  });

  it("2c. the real server runs as its pod's security context says, its read-only config mount read-only", async () => {
    const set = kubernetesObjects(await renderStack("dev")).find(
      (o) => o.kind === "StatefulSet" && o.metadata.name === "spire-server",
    );
    const { runAsUser, runAsGroup, fsGroup } = set?.spec.template.spec.securityContext ?? {};
    const { processes } = JSON.parse(fs.readFileSync(path.join(cluster.state.dir, "host-pods.json"), "utf8"));
    assert.equal(processes.length, 1, "one host-backed server");
    const status = fs.readFileSync(`/proc/${processes[0].pid}/status`, "utf8");
    const field = (name: string) =>
      new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1].trim().split(/\s+/);
    assert.deepEqual(field("Uid"), Array(4).fill(String(runAsUser)), "real, effective, saved, fs uid");
    assert.deepEqual(field("Gid"), Array(4).fill(String(runAsGroup)));
    assert.deepEqual(field("Groups"), [String(fsGroup)]);
    // What the process sees at each of the container's readOnly mounts: mountinfo field 6 holds the options.
    const readOnly = set?.spec.template.spec.containers[0].volumeMounts.filter((m: Json) => m.readOnly);
    assert.ok(readOnly.length > 0, "the rendered container mounts something read-only");
    const mountinfo = fs.readFileSync(`/proc/${processes[0].pid}/mountinfo`, "utf8").split("\n");
    for (const m of readOnly) {
      const line = mountinfo.find((l) => l.split(" ")[4]?.endsWith(`/volumes/${m.name}`));
      assert.match(line ?? `(no mount of ${m.name})`, /^(\S+ ){5}ro[, ]/, m.name);
    }
  });

  let driftCommand: string[] | undefined;
  /**
   * The drift check as the stack's driftCheckCommand output spells it (npm run drift -- --stack dev), run in the
   * project with the stack's environment, plus `extra` arguments.
   */
  const driftCheck = async (...extra: string[]) => {
    if (!driftCommand) {
      const output = await pulumiOk(stack, ["stack", "output", "driftCheckCommand", "--json"]);
      driftCommand = String(JSON.parse(output.stdout)).split(" ");
    }
    const [file, ...args] = driftCommand;
    const r = spawnSync(file, [...args, ...extra], {
      cwd: REPO_ROOT,
      env: stack.env,
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.ifError(r.error);
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  it("2d. drift made out of band is reported exactly; --repair puts the stack's view back through the runners", async () => {
    // Out of band, on the server's admin socket: one entry deleted, one's selectors changed, one made an admin,
    // and a stray planted under the stack's prefix.
    const before = entries();
    assert.deepEqual(before, walkthroughEntries(3600), "precondition: dev as its up left it");
    const byId = (name: string) => before.find((e) => e.id === `spire-mesh.dev.${name}`) as Json;
    serverCli(cluster.state, ["entry", "delete", "-entryID", "spire-mesh.dev.colorred"]);
    const blue = byId("colorblue");
    const intruded = [...blue.selectors.filter((s: string) => s !== "k8s:sa:blue"), "k8s:sa:intruder"].sort();
    plantEntry(cluster.state, "update", { ...blue, selectors: intruded });
    plantEntry(cluster.state, "update", byId("front"), "-admin");
    const stray = { id: "spire-mesh.dev.stray", spiffeId: `${TD}/stray`, parentId: AGENT_ALIAS, ttl: 3600 };
    plantEntry(cluster.state, "create", { ...stray, selectors: ["k8s:ns:stray"] });

    const drifted = await driftCheck();
    assert.equal(drifted.status, 1, drifted.out);
    assert.deepEqual(driftReported(drifted.out), [
      [
        `  changed     spire-mesh.dev.colorblue (${TD}/colorblue), declared by SpireEntry colorblue`,
        `                selectors: [${intruded.join(", ")}] → [${blue.selectors.join(", ")}]`,
      ],
      [
        `  changed     spire-mesh.dev.front (${TD}/front), declared by SpireEntry front`,
        "                admin: true → false",
      ],
      [`  missing     spire-mesh.dev.colorred (${TD}/colorred), declared by SpireEntry colorred`],
      [`  unexpected  spire-mesh.dev.stray (${TD}/stray), declared by no resource of the stack`],
    ]);
    assert.match(
      drifted.out,
      /spire-mesh\/dev: drift: 1 missing, 2 changed, 1 unexpected; 1 of 4 declared entries on 1 server as declared/,
    );

    const repaired = await driftCheck("--repair");
    assert.equal(repaired.status, 0, repaired.out);
    assert.deepEqual(repaired.out.match(/^repair: .*$/gm)?.sort(), [
      "repair: SpireEntry colorblue: its update step",
      "repair: SpireEntry colorred: its update step",
      "repair: SpireEntry front: its update step",
      "repair: delete 1 unexpected entry (spire-mesh.dev.stray)",
    ]);
    assert.deepEqual(entries(), walkthroughEntries(3600));
    const admins = serverEntries(cluster.state).filter((e) => (e as Json).admin === true);
    assert.deepEqual(admins, [], "no entry is an admin any more");
    const after = await driftCheck();
    assert.equal(after.status, 0, after.out);
    assert.match(after.out, /spire-mesh\/dev: no drift: all 4 declared entries on 1 server as declared/);
    // Step 3's preview, right after this one, shows that the repair left the state as up wrote it.
  });

  it("3. a second preview shows no changes (--expect-no-changes), 2d's repair notwithstanding", async () => {
    const r = await pulumi(stack, ["preview", "--expect-no-changes"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it("4. registerGreen=true creates exactly green's entry; false deletes it from the server", async () => {
    await setConfig("registerGreen", "true");
    assert.deepEqual(changes(await previewJson()), [
      "create command:local:Command colorgreen-entry",
      "create spire-mesh:index:SpireEntry colorgreen",
    ]);
    await up();
    assert.deepEqual(entries(), walkthroughEntries(3600, true));
    await setConfig("registerGreen", "false");
    await up();
    assert.deepEqual(entries(), walkthroughEntries(3600));
  });

  it("5. a new svidTtl updates the entries in place: same IDs, the new TTL, no replacement", async () => {
    await setConfig("svidTtl", "2h");
    const planned = changes(await previewJson());
    assert.deepEqual(
      planned.filter((c) => c.includes("command:local:Command")),
      [
        "update command:local:Command colorblue-entry",
        "update command:local:Command colorred-entry",
        "update command:local:Command front-entry",
      ],
    );
    assert.deepEqual(
      planned.filter((c) => /^(replace|delete|create)/.test(c) && /SpireEntry|command:local:Command/.test(c)),
      [],
    );
    // The server's config is a new, content-named ConfigMap: created before the old one is deleted, so the
    // restarting server pod never finds its config missing.
    assert.ok(
      planned.includes("replace kubernetes:core/v1:ConfigMap spire-server-config"),
      planned.join("\n"),
    );
    const out = (await up()).stdout;
    const created = out.indexOf("kubernetes:core/v1:ConfigMap spire-server-config creating replacement");
    const deleted = out.indexOf("kubernetes:core/v1:ConfigMap spire-server-config deleting original");
    assert.ok(created >= 0 && deleted > created, `replacement before deletion:\n${out}`);
    assert.deepEqual(entries(), walkthroughEntries(7200));
    assert.deepEqual(await workloadStatus(cluster.api), settled);
  });

  it("6. refresh reports no changes", async () => {
    const r = await pulumi(stack, ["refresh", "--yes", "--expect-no-changes"]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it("6b. a server that lost its datastore comes back empty on a new volume; the next up gives every entry back", async () => {
    const claimPath = "/api/v1/namespaces/spire/persistentvolumeclaims/spire-server-data";
    const oldVolume = (await cluster.api.get(claimPath)).body.spec?.volumeName;
    assert.ok(oldVolume, "precondition: spire-server-data is bound");
    const urnsOf = (deployment: Json) =>
      (deployment.resources as Json[])
        .map((r) => r.urn as string)
        .filter((u) => /(StatefulSet::spire-server|PersistentVolumeClaim::spire-server-data)$/.test(u));
    const serverAndClaim = urnsOf(JSON.parse((await pulumiOk(stack, ["stack", "export"])).stdout).deployment);
    assert.equal(serverAndClaim.length, 2, serverAndClaim.join("\n"));
    // Out of band: the server and its volume go (the PV's reclaim policy deletes the data with it).
    for (const args of [
      ["delete", "statefulset", "-n", "spire", "spire-server", "--wait"],
      ["delete", "pvc", "-n", "spire", "spire-server-data", "--wait"],
    ]) {
      const r = spawnSync(binary("kubectl"), args, {
        encoding: "utf8",
        env: { ...process.env, KUBECONFIG: cluster.state.kubeconfig },
      });
      assert.equal(r.status, 0, r.stderr);
    }
    await pulumiOk(stack, ["refresh", "--yes"]);
    // The server and its claim alone first, without the entry commands: what the lost datastore comes back as.
    await pulumiOk(stack, [
      "up",
      "--yes",
      "--skip-preview",
      ...serverAndClaim.flatMap((u) => ["--target", u]),
    ]);
    const newVolume = (await cluster.api.get(claimPath)).body.spec?.volumeName;
    assert.ok(newVolume && newVolume !== oldVolume, `a new volume (was ${oldVolume}, now ${newVolume})`);
    assert.deepEqual(entries(), [], "the server came back with an empty datastore");
    await up();
    // A new StatefulSet and volume: a new generation, so every entry's update ran and re-created it.
    assert.deepEqual(entries(), walkthroughEntries(7200));
    assert.deepEqual(await workloadStatus(cluster.api), settled);
  });

  it("7. an up killed as green's entry command starts recovers as documented and converges with no duplicate", async function () {
    assert.ok(!entries().some((e) => e.id === GREEN.entryId), "precondition: green has no entry");
    await setConfig("registerGreen", "true");
    const killed = await interruptedUp(stack, cluster, { ...GREEN, moment: "runner started" });
    // Which interleaving the kill landed in is observed, not assumed; the title reports it.
    if (this.test) this.test.title += ` [${killed.case}]`;
    assert.equal(killed.result.signal, "SIGKILL", killed.result.stdout);
    assert.equal(killed.locks, 1, "the killed update's lock stays behind");
    const locked = await pulumi(stack, ["up", "--yes", "--skip-preview"]);
    assert.match(locked.stdout + locked.stderr, /the stack is currently locked by 1 lock/);
    await recoverInterruptedUpdate(stack);
    await up();
    await assertConverged(killed, walkthroughEntries(7200, true));
  });

  it("7b. an up killed once the server holds green's entry, its create pending, converges to one entry; with it the gateway", async function () {
    await setConfig("registerGreen", "false");
    await up();
    assert.deepEqual(entries(), walkthroughEntries(7200), "precondition: green has no entry");
    await setConfig("registerGreen", "true");
    const killed = await interruptedUp(stack, cluster, { ...GREEN, moment: "entry on the server" });
    if (this.test) this.test.title += ` [${killed.case}]`;
    assert.equal(killed.result.signal, "SIGKILL", killed.result.stdout);
    // The CLI was frozen while green's runner still ran: the engine cannot have recorded the create.
    assert.equal(killed.runnerOutlivedFreeze, true);
    assert.equal(killed.case, CASES.onServerPending);
    assert.equal(killed.locks, 1, "the killed update's lock stays behind");
    await recoverInterruptedUpdate(stack);
    // The converging up also turns the ingress gateway on (issue 13), so step 10's destroy must take it away too;
    // one up instead of a cycle of its own.
    await setConfig("gateway", "true");
    await up();
    await assertConverged(killed, withGateway(7200));
  });

  it("8. bad config fails the preview with one clear error and creates nothing", async () => {
    const bad = initStack({
      projectDir: REPO_ROOT,
      stack: "bad",
      workDir: path.join(cluster.workDir, "pulumi"),
      kubeconfig: cluster.state.kubeconfig,
      configFrom: path.join(REPO_ROOT, "Pulumi.dev.yaml"),
    });
    await pulumiOk(bad, ["config", "set", "trustDomain", "Not_A_Domain!"]);
    // A mistyped secret key (kubeConfig for kubeconfig) must be named without its decrypted value.
    await pulumiOk(bad, ["config", "set", "--secret", "kubeConfig", "token: s3cr3t-t0ken"]);
    const before = await inventory(cluster.api);
    const message = /stack bad config: invalid arguments:(\s+- .*)*\s+- trustDomain = "Not_A_Domain!": /;
    const preview = await pulumi(bad, ["preview"]);
    assert.notEqual(preview.status, 0);
    assert.match(preview.stdout + preview.stderr, message);
    assert.match(preview.stdout + preview.stderr, /- kubeConfig = "\[secret\]": is not a config key/);
    assert.doesNotMatch(preview.stdout + preview.stderr, /s3cr3t/);
    const r = await pulumi(bad, ["up", "--yes"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, message);
    assert.deepEqual(await changesSince(cluster.api, before, 0), []);
    const exported = JSON.parse((await pulumiOk(bad, ["stack", "export"])).stdout);
    assert.deepEqual(exported.deployment.resources ?? [], []);
  });

  it("10. destroy leaves no object of any kind, no entry on the server, and an empty stack", async () => {
    assert.ok(beforeUp, "precondition: step 1 took the inventory before the first up");
    assert.deepEqual(stackLocks(stack), [], "precondition: no update holds the stack");
    await pulumiOk(stack, ["destroy", "--yes", "--skip-preview"]);
    assert.deepEqual(await changesSince(cluster.api, beforeUp), []);
    // The server went with its pod; the host-pods kubelet asked it for its entry count just before stopping it.
    const stops = fs
      .readFileSync(path.join(cluster.state.dir, "logs", "host-pods.log"), "utf8")
      .split("\n")
      .filter((l) => l.includes("pod spire/spire-server-0 is gone"));
    assert.match(stops.at(-1) ?? "(no stop recorded)", /which holds 0 entries$/);
    const exported = JSON.parse((await pulumiOk(stack, ["stack", "export"])).stdout);
    assert.deepEqual(exported.deployment.resources ?? [], []);
  });

  it("11. with the server gone, an entry delete fails unless deleteWithoutServer counts it as deleted", async () => {
    const pod = await cluster.api.get("/api/v1/namespaces/spire/pods/spire-server-0");
    assert.equal(pod.status, 404, "precondition: step 10 destroyed dev, spire-server-0 with it");
    // The same delete plan SpireEntry renders.
    const render = await renderStack("dev", { spireDeleteEntriesWithoutServer: "true" });
    const command = render.resources.find(
      (r) => r.type === "command:local:Command" && r.name === "front-entry",
    );
    assert.ok(command, "front's entry command");
    const plan = JSON.parse((command.inputs as { delete: string }).delete);
    assert.equal(plan.deleteWithoutServer, true);
    const runner = path.join(REPO_ROOT, "bin", "spire-entry.js");
    const env = {
      ...process.env,
      KUBECONFIG: cluster.state.kubeconfig,
      PATH: `${path.dirname(binary("kubectl"))}:${process.env.PATH}`,
    };
    const strict = spawnSync(
      process.execPath,
      [runner, JSON.stringify({ ...plan, deleteWithoutServer: undefined })],
      {
        encoding: "utf8",
        env,
      },
    );
    assert.equal(strict.status, 1);
    assert.match(
      strict.stderr,
      /Error from server \(NotFound\): (pods "spire-server-0"|namespaces "spire") not found/,
    );
    const tolerant = spawnSync(process.execPath, [runner, JSON.stringify(plan)], { encoding: "utf8", env });
    assert.equal(tolerant.status, 0, tolerant.stderr);
    assert.deepEqual(JSON.parse(tolerant.stdout), {
      entryId: "spire-mesh.dev.front",
      outcome: "server gone",
    });
  });
});
