/**
 * SpireEntrySet's plans run for real: bin/spire-entry-set.js against a real spire-server 1.13.3, 100 entries at
 * a time. Only the exec prefix is local (the server binary and its socket instead of `kubectl exec`). The steps
 * follow a set's life: create, change (10 added, 10 changed, 10 removed), a partial failure and its
 * convergence, drift repair, delete; after each, the server's exact state.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { type ShownEntry, type SpireHarness, startSpire } from "../../local/spireHarness";
import { type EntrySetMember, entrySetCommands, entrySetPlans, resolveEntrySet } from "../../spire/entrySet";

const RUNNER = path.resolve(__dirname, "../../bin/spire-entry-set.js");

describe("SpireEntrySet plans run by bin/spire-entry-set.js against spire-server 1.13.3", function () {
  this.timeout(120_000);
  let spire: SpireHarness;
  let previousStdout = "";

  const member = (i: number, ttl = "10m"): EntrySetMember => ({
    name: `svc-${i}`,
    spiffeId: `spiffe://${spire.trustDomain}/bench/svc-${i}`,
    parentId: spire.agentId,
    selectors: [`unix:uid:${20000 + i}`],
    x509SvidTtl: ttl,
  });

  /** Renders the set's plans as SpireEntrySet would, for the harness's server. */
  function plans(members: EntrySetMember[]) {
    const ctx = { trustDomain: spire.trustDomain, selectorTypes: ["unix", "spiffe_id", "join_token"] };
    const entries = resolveEntrySet("SpireEntrySet test", "spire-mesh", "test", members, ctx);
    return entrySetPlans(entrySetCommands([spire.serverBin], spire.serverSocket), entries);
  }

  /** Runs a step like the command provider does: the plan as the only argument, the previous stdout in the env. */
  function step(plan: string) {
    const r = spawnSync(process.execPath, [RUNNER, plan], {
      encoding: "utf8",
      env: { ...process.env, PULUMI_COMMAND_STDOUT: previousStdout },
    });
    if (r.status === 0) previousStdout = r.stdout.trim();
    return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
  }

  const ours = (): ShownEntry[] => spire.entries().filter((e) => e.spiffe_id.path.startsWith("/bench/"));
  const state = () =>
    ours()
      .map(
        (e) =>
          `${e.id} ${e.spiffe_id.path} ${e.selectors.map((s) => `${s.type}:${s.value}`).join(",")} ${e.x509_svid_ttl}`,
      )
      .sort();
  const expected = (members: EntrySetMember[]) =>
    members
      .map(
        (m) =>
          `spire-mesh.test.${m.name} /bench/${m.name} ${m.selectors.join(",")} ${Number.parseInt(m.x509SvidTtl as string, 10) * 60}`,
      )
      .sort();

  let current: EntrySetMember[];

  before(async () => {
    spire = await startSpire();
    current = Array.from({ length: 100 }, (_, i) => member(i));
  });
  after(async () => {
    await spire?.stop();
  });

  it("create registers all 100 entries in one batch, with their deterministic IDs", () => {
    const r = step(plans(current).create);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).created, 100);
    assert.deepEqual(state(), expected(current));
  });

  it("an update adds 10, changes 10 and removes 10, and leaves the other 80 alone", () => {
    const removed = current.slice(0, 10);
    const next = [
      ...current.slice(10, 20).map((_, k) => member(10 + k, "20m")),
      ...current.slice(20),
      ...Array.from({ length: 10 }, (_, k) => member(100 + k)),
    ];
    const revisions = new Map(ours().map((e) => [e.id, e.revision_number]));
    const r = step(plans(next).update);
    assert.equal(r.status, 0, r.stderr);
    const { created, updated, deleted, unchanged } = JSON.parse(r.stdout);
    assert.deepEqual(
      { created, updated, deleted, unchanged },
      { created: 10, updated: 10, deleted: 10, unchanged: 80 },
    );
    assert.deepEqual(state(), expected(next));
    for (const m of removed) assert.ok(!state().some((s) => s.startsWith(`spire-mesh.test.${m.name} `)));
    // The untouched 80 were not rewritten.
    const untouched = ours().filter(
      (e) => Number(e.id.split("-").pop()) >= 20 && Number(e.id.split("-").pop()) < 100,
    );
    assert.equal(untouched.length, 80);
    for (const e of untouched.filter((x) => revisions.has(x.id)))
      assert.equal(e.revision_number, revisions.get(e.id));
    current = next;
  });

  it("a partial failure names the entry by SPIFFE ID, applies the rest, and the next run converges", () => {
    const conflicting = member(200);
    // Outside the set, an entry the server calls similar (same parent, SPIFFE ID and selectors), another ID.
    const outside = spire.server([
      "entry",
      "create",
      "-entryID",
      "outside",
      "-spiffeID",
      conflicting.spiffeId,
      "-parentID",
      spire.agentId,
      "-selector",
      conflicting.selectors[0],
    ]);
    assert.equal(outside.status, 0, outside.stderr);
    const next = [...current, member(201), conflicting];
    const failed = step(plans(next).update);
    assert.equal(failed.status, 1);
    assert.match(
      failed.stderr,
      new RegExp(`1 of the set's entries failed:\\n  ${conflicting.spiffeId}: .*code 6`),
    );
    assert.ok(state().includes(expected([member(201)])[0]), "the other added entry is there");
    assert.equal(spire.server(["entry", "delete", "-entryID", "outside"]).status, 0);
    const converged = step(plans(next).update);
    assert.equal(converged.status, 0, converged.stderr);
    assert.deepEqual(
      (({ created, updated, deleted }) => ({ created, updated, deleted }))(JSON.parse(converged.stdout)),
      { created: 1, updated: 0, deleted: 0 },
    );
    assert.deepEqual(state(), expected(next));
    current = next;
  });

  it("a re-run recreates entries deleted out of band (drift repair)", () => {
    for (const id of ["spire-mesh.test.svc-50", "spire-mesh.test.svc-51"]) {
      assert.equal(spire.server(["entry", "delete", "-entryID", id]).status, 0);
    }
    const r = step(plans(current).update);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).created, 2);
    assert.deepEqual(state(), expected(current));
  });

  it("delete removes every entry of the set; absent ones count as deleted", () => {
    const r = step(plans(current).delete);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(state(), []);
    assert.equal(step(plans(current).delete).status, 0, "deleting again is fine");
  });
});
