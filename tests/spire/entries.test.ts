/**
 * The dev stack's SpireEntry commands, run for real: each rendered plan goes through the real runner
 * (`node bin/spire-entry.js <plan>`) against a local spire-server 1.13.3. Only the exec prefix changes: the
 * `kubectl exec ... spire-server` part becomes the local binary plus `-socketPath`. The cases build on each
 * other (one server for the file), in the order a stack's life goes: create, re-create, grow, update, delete.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { type ShownEntry, type SpireHarness, startSpire } from "../../local/spireHarness";
import type { RecordedResource } from "../../render/runtime";
import { entryCommands, entryPlans, resolveEntry } from "../../spire/entries";
import { renderStack } from "../support/render";

const REPO_ROOT = path.resolve(__dirname, "../..");
const TD = "howto-k8s-mtls-sds-based.aws";
const DEPLOYED_PREFIX = [
  "kubectl",
  "exec",
  "-i",
  "-n",
  "spire",
  "spire-server-0",
  "-c",
  "spire-server",
  "--",
];
const DEPLOYED_BINARY = "/opt/spire/bin/spire-server";

/** The walkthrough's register_server_entries.sh, ported from k8s_sat to k8s_psat (SPIRE 1.12 removed k8s_sat). */
const agentAlias = `spiffe://${TD}/ns/spire/sa/spire-agent`;
const colorSelectors = (color: string) => [
  "k8s:container-name:envoy",
  "k8s:ns:howto-k8s-mtls-sds-based",
  "k8s:pod-label:app:color",
  `k8s:pod-label:version:${color}`,
  // Not the walkthrough's k8s:sa:default: each workload runs as its own ServiceAccount (hardening).
  `k8s:sa:${color}`,
];
const walkthrough: Record<string, { parent: string; selectors: string[] }> = {
  [agentAlias]: {
    parent: `spiffe://${TD}/spire/server`,
    selectors: ["k8s_psat:agent_ns:spire", "k8s_psat:agent_sa:spire-agent", "k8s_psat:cluster:k8s-cluster"],
  },
  [`spiffe://${TD}/front`]: {
    parent: agentAlias,
    selectors: [
      "k8s:container-name:envoy",
      "k8s:ns:howto-k8s-mtls-sds-based",
      "k8s:pod-label:app:front",
      "k8s:sa:front",
    ],
  },
  [`spiffe://${TD}/colorblue`]: { parent: agentAlias, selectors: colorSelectors("blue") },
  [`spiffe://${TD}/colorred`]: { parent: agentAlias, selectors: colorSelectors("red") },
  [`spiffe://${TD}/colorgreen`]: { parent: agentAlias, selectors: colorSelectors("green") },
};
/** The walkthrough's entries have no TTL of their own and get the 1h default; ours state it. */
const WALKTHROUGH_TTL = 3600;

/** `entry create|update` argv for our entry as someone with server access would write it out of band. */
const outOfBandEntry = (
  action: "create" | "update",
  entryId: string,
  expect: { spiffeId: string; parentId: string; selectors: readonly { type: string; value: string }[] },
) => [
  "entry",
  action,
  "-entryID",
  entryId,
  "-spiffeID",
  expect.spiffeId,
  "-parentID",
  expect.parentId,
  ...expect.selectors.flatMap((sel) => ["-selector", `${sel.type}:${sel.value}`]),
  "-x509SVIDTTL",
  String(WALKTHROUGH_TTL),
];

interface Plan {
  readonly step: string;
  readonly entryId: string;
  readonly expect: { spiffeId: string; parentId: string; selectors: { type: string; value: string }[] };
  readonly [argv: string]: unknown;
}

interface EntryCommand {
  readonly name: string;
  readonly interpreter: string[];
  readonly plans: { create: Plan; update: Plan; delete: Plan };
}

const spiffeIdOf = (e: ShownEntry) => `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`;
const parentIdOf = (e: ShownEntry) => `spiffe://${e.parent_id.trust_domain}${e.parent_id.path}`;

describe("SpireEntry plans run by bin/spire-entry.js against spire-server 1.13.3", function () {
  this.timeout(60_000);
  let spire: SpireHarness;
  let dev: EntryCommand[];
  let withGreen: EntryCommand[];

  /** Swaps the deployed exec prefix for the local binary and adds the harness socket after the subcommand. */
  const localize = (argv: string[]): string[] => {
    const at = argv.indexOf("entry");
    assert.deepEqual(argv.slice(0, at), [...DEPLOYED_PREFIX, DEPLOYED_BINARY], "unexpected exec prefix");
    return [spire.serverBin, "entry", argv[at + 1], "-socketPath", spire.serverSocket, ...argv.slice(at + 2)];
  };

  const localPlan = (json: unknown): Plan => {
    const plan = JSON.parse(json as string) as Plan;
    const argvKeys = ["create", "update", "show", "delete"].filter((k) => Array.isArray(plan[k]));
    return { ...plan, ...Object.fromEntries(argvKeys.map((k) => [k, localize(plan[k] as string[])])) };
  };

  const entryCommandsOf = (resources: readonly RecordedResource[]): EntryCommand[] =>
    resources
      .filter((r) => r.type === "command:local:Command")
      .map((r) => ({
        name: r.name,
        interpreter: r.inputs.interpreter as string[],
        plans: {
          create: localPlan(r.inputs.create),
          update: localPlan(r.inputs.update),
          delete: localPlan(r.inputs.delete),
        },
      }));

  /** Runs a plan the way @pulumi/command does: the interpreter argv plus the plan as the last argument. */
  const runPlan = (command: EntryCommand, plan: Plan) => {
    const [file, ...args] = command.interpreter;
    const r = spawnSync(file, [...args, JSON.stringify(plan)], {
      cwd: REPO_ROOT,
      encoding: "utf8",
      timeout: 30_000,
    });
    if (r.error) throw r.error;
    const result = r.status === 0 ? (JSON.parse(r.stdout) as { outcome: string }) : undefined;
    return { status: r.status, outcome: result?.outcome, result, stderr: r.stderr };
  };
  const runStep = (command: EntryCommand, step: "create" | "update" | "delete") => {
    const r = runPlan(command, command.plans[step]);
    assert.equal(r.status, 0, `${command.name} ${step} failed: ${r.stderr}`);
    return r.outcome;
  };
  const byName = (commands: EntryCommand[], name: string) => {
    const found = commands.find((c) => c.name === name);
    assert.ok(found, `no Command ${name} in ${commands.map((c) => c.name).join(", ")}`);
    return found;
  };
  const shown = (entryId: string) => spire.entries().find((e) => e.id === entryId);
  /** The fields an entry of ours never sets, as the server shows them. */
  const privileges = (entryId: string) => {
    const e = shown(entryId) as (ShownEntry & Record<string, unknown>) | undefined;
    assert.ok(e, `no entry ${entryId}`);
    return { admin: e.admin, downstream: e.downstream, store_svid: e.store_svid, hint: e.hint };
  };
  const UNPRIVILEGED = { admin: false, downstream: false, store_svid: false, hint: "" };

  /** Every entry on the server is one of the walkthrough's, under the ID its plan gave it. */
  const assertWalkthroughEntries = (commands: EntryCommand[]) => {
    const entries = spire.entries();
    assert.equal(entries.length, commands.length, `entries: ${entries.map(spiffeIdOf).join(", ")}`);
    for (const command of commands) {
      const { entryId, expect } = command.plans.create;
      const entry = entries.find((e) => e.id === entryId);
      assert.ok(entry, `no entry with ID ${entryId}`);
      const want = walkthrough[spiffeIdOf(entry)];
      assert.ok(want, `${spiffeIdOf(entry)} is not a walkthrough identity`);
      assert.equal(spiffeIdOf(entry), expect.spiffeId);
      assert.equal(parentIdOf(entry), want.parent, `parent of ${spiffeIdOf(entry)}`);
      assert.deepEqual(entry.selectors.map((s) => `${s.type}:${s.value}`).sort(), want.selectors);
      // 0 means "the server default", which is the harness's (and the stack's) default_x509_svid_ttl.
      assert.equal(
        entry.x509_svid_ttl || spire.settings.x509SvidTtlSeconds,
        WALKTHROUGH_TTL,
        `TTL of ${spiffeIdOf(entry)}`,
      );
    }
  };

  before(async () => {
    // Renders one after another (the mock runtime is process-wide), then the server the plans are localized to.
    const devRender = await renderStack("dev");
    const greenRender = await renderStack("dev", { registerGreen: "true" });
    spire = await startSpire();
    dev = entryCommandsOf(devRender.resources);
    withGreen = entryCommandsOf(greenRender.resources);
  });

  after(async () => {
    await spire?.stop();
  });

  it("create registers the walkthrough's 4 entries on an empty server", () => {
    assert.deepEqual(spire.entries(), []);
    assert.equal(dev.length, 4);
    for (const command of dev) assert.equal(runStep(command, "create"), "created", command.name);
    assertWalkthroughEntries(dev);
  });

  it("create again converges: still 4 entries, nothing changed", () => {
    const before = spire.entries();
    for (const command of dev) assert.equal(runStep(command, "create"), "unchanged", command.name);
    assert.deepEqual(spire.entries(), before);
  });

  it("registerGreen adds colorgreen: 5 entries", () => {
    assert.equal(withGreen.length, 5);
    const outcomes = Object.fromEntries(withGreen.map((c) => [c.name, runStep(c, "create")]));
    assert.deepEqual(outcomes, {
      "spire-agent-entry": "unchanged",
      "front-entry": "unchanged",
      "colorblue-entry": "unchanged",
      "colorred-entry": "unchanged",
      "colorgreen-entry": "created",
    });
    assertWalkthroughEntries(withGreen);
  });

  it("update changes the TTL in place, and the stack's create plan converges it back", () => {
    const red = byName(withGreen, "colorred-entry");
    const { entryId, expect } = red.plans.create;
    const before = shown(entryId);
    assert.ok(before);
    const spec = {
      spiffeId: expect.spiffeId,
      parentId: expect.parentId,
      selectors: expect.selectors.map((s) => `${s.type}:${s.value}`),
      x509SvidTtl: "30m",
    };
    const entry = resolveEntry("colorred", entryId, spec, {
      trustDomain: TD,
      selectorTypes: spire.settings.selectorTypes,
    });
    const plans = entryPlans(entryCommands([spire.serverBin], entry, spire.serverSocket), entry);
    assert.equal(runPlan(red, JSON.parse(plans.update) as Plan).outcome, "updated");
    const updated = shown(entryId);
    assert.ok(updated);
    assert.equal(updated.x509_svid_ttl, 30 * 60);
    assert.ok(Number(updated.revision_number) > Number(before.revision_number), "revision did not move");

    // Drift: create finds the entry (AlreadyExists), sees the TTL differ and updates it back.
    assert.equal(runStep(red, "create"), "updated");
    const restored = shown(entryId);
    assert.ok(restored);
    assert.equal(restored.x509_svid_ttl, WALKTHROUGH_TTL);
    assert.ok(Number(restored.revision_number) > Number(updated.revision_number));
    assertWalkthroughEntries(withGreen);
  });

  it("create refuses to adopt a similar entry made outside the stack", () => {
    const green = byName(withGreen, "colorgreen-entry");
    assert.equal(runStep(green, "delete"), "deleted");
    const { expect } = green.plans.create;
    const selectorFlags = expect.selectors.flatMap((s) => ["-selector", `${s.type}:${s.value}`]);
    const byHand = spire.server([
      "entry",
      "create",
      "-spiffeID",
      expect.spiffeId,
      "-parentID",
      expect.parentId,
      ...selectorFlags,
    ]);
    assert.equal(byHand.status, 0, byHand.stderr);

    const r = runPlan(green, green.plans.create);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /similar entry already exists.*created outside this stack/s);

    const stray = spire.entries().find((e) => spiffeIdOf(e) === expect.spiffeId);
    assert.ok(stray);
    assert.equal(spire.server(["entry", "delete", "-entryID", stray.id]).status, 0);
    assert.equal(runStep(green, "create"), "created");
  });

  it("delete removes an entry, and deleting it again succeeds", () => {
    const green = byName(withGreen, "colorgreen-entry");
    assert.equal(runStep(green, "delete"), "deleted");
    assert.equal(shown(green.plans.delete.entryId), undefined);
    assertWalkthroughEntries(dev);
    assert.equal(runStep(green, "delete"), "already absent");
    assertWalkthroughEntries(dev);
  });

  it("update recreates an entry deleted out of band, under the same ID", () => {
    const front = byName(dev, "front-entry");
    const gone = spire.server(["entry", "delete", "-entryID", front.plans.update.entryId]);
    assert.equal(gone.status, 0, gone.stderr);
    assert.equal(spire.entries().length, 3);
    assert.equal(runStep(front, "update"), "created");
    assertWalkthroughEntries(dev);
  });

  it("an entry made in advance under our ID with -admin, -downstream, -storeSVID and -hint is repaired and named", () => {
    const front = byName(dev, "front-entry");
    const { entryId, expect } = front.plans.create;
    assert.equal(runStep(front, "delete"), "deleted");
    // What anyone with server access could do before the stack's first up: the predictable ID, more privilege.
    const ahead = spire.server([
      ...outOfBandEntry("create", entryId, expect),
      "-admin",
      "-downstream",
      "-storeSVID",
      "-hint",
      "planted",
    ]);
    assert.equal(ahead.status, 0, ahead.stderr);
    assert.deepEqual(privileges(entryId), {
      admin: true,
      downstream: true,
      store_svid: true,
      hint: "planted",
    });

    const r = runPlan(front, front.plans.create);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.result, {
      entryId,
      outcome: "updated",
      differed: ["admin", "downstream", "store_svid", "hint"],
    });
    assert.deepEqual(privileges(entryId), UNPRIVILEGED);
    assertWalkthroughEntries(dev);
  });

  it("update (what reassertOn re-runs) resets an entry changed later with -admin", () => {
    const front = byName(dev, "front-entry");
    const { entryId, expect } = front.plans.update;
    const changed = spire.server([...outOfBandEntry("update", entryId, expect), "-admin"]);
    assert.equal(changed.status, 0, changed.stderr);
    assert.equal(privileges(entryId).admin, true);
    assert.equal(runStep(front, "update"), "updated");
    assert.deepEqual(privileges(entryId), UNPRIVILEGED);
    assertWalkthroughEntries(dev);
  });

  it("every entry survives a SIGKILL of the server (same data dir)", async () => {
    const before = spire.entries();
    assert.equal(before.length, 4);
    await spire.killServer();
    assert.notEqual(spire.server(["healthcheck"]).status, 0, "server still answers after SIGKILL");
    await spire.restartServer();
    assert.deepEqual(spire.entries(), before);
  });
});
