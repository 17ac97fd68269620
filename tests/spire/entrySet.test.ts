/**
 * SpireEntrySet's plans run for real: bin/spire-entry-set.js against a real spire-server 1.13.3, 100 entries at
 * a time. Only the exec prefix is local (the server binary and its socket instead of `kubectl exec`). The steps
 * follow a set's life: create, change (10 added, 10 changed, 10 removed), a partial failure and its
 * convergence, drift repair, delete; after each, the server's exact state. Then a set whose member federates
 * with another trust domain, whose bundle reaches the server through SpireInstallation's `bundle set` plan.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { freePort } from "../../local/ports";
import { type ShownEntry, type SpireHarness, startSpire } from "../../local/spireHarness";
import { bundleCommands, bundlePlans } from "../../spire/bundles";
import {
  type EntrySetCommand,
  type EntrySetMember,
  entrySetCommand,
  entrySetCommands,
  resolveEntrySet,
} from "../../spire/entrySet";

const RUNNER = path.resolve(__dirname, "../../bin/spire-entry-set.js");
const BUNDLE_RUNNER = path.resolve(__dirname, "../../bin/spire-bundle.js");

/**
 * Runs a step like the command provider does: the step's command as the only argument, the command's stdin,
 * the previous stdout in the env.
 */
function runStep(runner: string, command: string, stdin = "", previousStdout = "") {
  const r = spawnSync(process.execPath, [runner, command], {
    encoding: "utf8",
    timeout: 30_000,
    input: stdin,
    env: { ...process.env, PULUMI_COMMAND_STDOUT: previousStdout },
  });
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

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
    return entrySetCommand(entrySetCommands([spire.serverBin], spire.serverSocket), entries);
  }

  function step(command: EntrySetCommand, which: "create" | "update" | "delete") {
    const r = runStep(RUNNER, command[which], command.stdin, previousStdout);
    if (r.status === 0) previousStdout = r.stdout;
    return r;
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
    const r = step(plans(current), "create");
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
    const r = step(plans(next), "update");
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
    const failed = step(plans(next), "update");
    assert.equal(failed.status, 1);
    assert.match(
      failed.stderr,
      new RegExp(`1 of the set's entries failed:\\n  ${conflicting.spiffeId}: .*code 6`),
    );
    assert.ok(state().includes(expected([member(201)])[0]), "the other added entry is there");
    assert.equal(spire.server(["entry", "delete", "-entryID", "outside"]).status, 0);
    const converged = step(plans(next), "update");
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
    const r = step(plans(current), "update");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).created, 2);
    assert.deepEqual(state(), expected(current));
  });

  it("entries granting more than the plan (admin, downstream, storeSVID, hint, expiry, JWT TTL) are reset and named", () => {
    // Changed out of band under the set's own IDs, as `entry update -admin ...` would by anyone with server access.
    const tamper = (m: EntrySetMember, flags: string[]) => {
      const r = spire.server([
        "entry",
        "update",
        "-entryID",
        `spire-mesh.test.${m.name}`,
        "-spiffeID",
        m.spiffeId,
        "-parentID",
        m.parentId as string,
        "-selector",
        m.selectors[0],
        "-x509SVIDTTL",
        "600",
        ...flags,
      ]);
      assert.equal(r.status, 0, r.stderr);
    };
    const [privileged, expiring] = [current[50], current[51]];
    tamper(privileged, ["-admin", "-downstream", "-storeSVID", "-hint", "ours-now"]);
    tamper(expiring, ["-entryExpiry", String(Math.floor(Date.now() / 1000) + 86_400), "-jwtSVIDTTL", "60"]);
    const extras = (e: ShownEntry) =>
      (({ admin, downstream, store_svid, hint, expires_at, jwt_svid_ttl }) => ({
        admin,
        downstream,
        store_svid,
        hint,
        expires_at,
        jwt_svid_ttl,
      }))(e as ShownEntry & Record<string, unknown>);
    const byId = (name: string) => ours().find((e) => e.id === `spire-mesh.test.${name}`) as ShownEntry;
    assert.equal(extras(byId(privileged.name)).admin, true, "the tampering took");
    assert.equal(extras(byId(expiring.name)).jwt_svid_ttl, 60, "the tampering took");

    const r = step(plans(current), "update");
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(
      { created: out.created, updated: out.updated, deleted: out.deleted },
      { created: 0, updated: 2, deleted: 0 },
    );
    const named = (count: number, m: EntrySetMember) => ({ count, entries: [m.spiffeId] });
    assert.deepEqual(out.differed, {
      admin: named(1, privileged),
      downstream: named(1, privileged),
      store_svid: named(1, privileged),
      hint: named(1, privileged),
      expires_at: named(1, expiring),
      jwt_svid_ttl: named(1, expiring),
    });
    // As the server shows a field that is not set (int64 values print as strings).
    const unset = {
      admin: false,
      downstream: false,
      store_svid: false,
      hint: "",
      expires_at: "0",
      jwt_svid_ttl: 0,
    };
    assert.deepEqual(extras(byId(privileged.name)), unset);
    assert.deepEqual(extras(byId(expiring.name)), unset);
    assert.deepEqual(state(), expected(current));
  });

  it("delete removes every entry of the set; absent ones count as deleted", () => {
    const r = step(plans(current), "delete");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(state(), []);
    assert.equal(step(plans(current), "delete").status, 0, "deleting again is fine");
  });
});

describe("SpireEntrySet with federatesWith against spire-server 1.13.3", function () {
  this.timeout(120_000);
  let east: SpireHarness;
  let west: SpireHarness;
  let previousStdout = "";
  const FEDERATED = "spiffe://west.example/ns/west/sa/caller";
  const LOCAL = "spiffe://west.example/ns/west/sa/worker";

  const members = (federatesWith?: string[]): EntrySetMember[] => [
    { name: "worker", spiffeId: LOCAL, parentId: west.agentId, selectors: ["unix:uid:21001"] },
    {
      name: "caller",
      spiffeId: FEDERATED,
      parentId: west.agentId,
      selectors: ["unix:uid:21002"],
      ...(federatesWith ? { federatesWith } : {}),
    },
  ];

  /** The set's plans for west's server, checked as SpireEntrySet checks them under a federated installation. */
  function plans(set: EntrySetMember[]) {
    const ctx = {
      trustDomain: west.trustDomain,
      selectorTypes: ["unix", "spiffe_id", "join_token"],
      federatedTrustDomains: ["east.example"],
    };
    const entries = resolveEntrySet("SpireEntrySet test", "spire-mesh", "test", set, ctx);
    return entrySetCommand(entrySetCommands([west.serverBin], west.serverSocket), entries);
  }

  function step(command: EntrySetCommand, which: "create" | "update" | "delete") {
    const r = runStep(RUNNER, command[which], command.stdin, previousStdout);
    if (r.status === 0) previousStdout = r.stdout;
    return r;
  }

  /** SpireInstallation's bundle plans, for one harness's server. */
  const bundlesOf = (spire: SpireHarness) =>
    bundlePlans(bundleCommands([spire.serverBin], spire.serverSocket));

  /** Each of west's entries by SPIFFE ID, with the trust domains it federates with as the server shows them. */
  const federation = () =>
    Object.fromEntries(
      west
        .entries()
        .map((e) => [
          `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`,
          (e as ShownEntry & { federates_with?: string[] }).federates_with ?? [],
        ]),
    );

  before(async () => {
    east = await startSpire({ settings: { trustDomain: "east.example" } });
    // West is configured to federate with east, as the installation would be, at an address nothing serves:
    // east's bundle reaches west only through `bundle set`, so that is what the server's checks depend on.
    west = await startSpire({
      settings: {
        trustDomain: "west.example",
        federation: {
          bundleEndpoint: { port: await freePort() },
          federatesWith: [
            {
              trustDomain: "east.example",
              bundleEndpointUrl: `https://127.0.0.1:${await freePort()}`,
              endpointSpiffeId: "spiffe://east.example/spire/server",
            },
          ],
        },
      },
    });
  });
  after(async () => {
    await west?.stop();
    await east?.stop();
  });

  it("before east's bundle is set: the federating member fails by SPIFFE ID with SPIRE's reason, the other is created", () => {
    const r = step(plans(members(["east.example"])), "create");
    assert.equal(r.status, 1, r.stdout);
    assert.match(
      r.stderr,
      new RegExp(
        `1 of the set's entries failed:\\n  ${FEDERATED}: .*unable to find federated bundle "spiffe://east\\.example"`,
      ),
    );
    assert.deepEqual(federation(), { [LOCAL]: [] });
  });

  it("after `bundle set` of east's bundle through the installation's plan, the next run creates it, federating with east", () => {
    const bundle = runStep(BUNDLE_RUNNER, bundlesOf(east).show);
    assert.equal(bundle.status, 0, bundle.stderr);
    const set = runStep(BUNDLE_RUNNER, bundlesOf(west).set("east.example", bundle.stdout).create);
    assert.equal(set.status, 0, set.stderr);
    const { trustDomain, outcome } = JSON.parse(set.stdout);
    assert.deepEqual({ trustDomain, outcome }, { trustDomain: "east.example", outcome: "set" });

    const r = step(plans(members(["east.example"])), "update");
    assert.equal(r.status, 0, r.stderr);
    const { created, updated, unchanged } = JSON.parse(r.stdout);
    assert.deepEqual({ created, updated, unchanged }, { created: 1, updated: 0, unchanged: 1 });
    assert.deepEqual(federation(), { [LOCAL]: [], [FEDERATED]: ["east.example"] });
  });

  it("a re-run, with the domain written either way, finds the set converged: federates_with compares as shown", () => {
    for (const written of ["east.example", "spiffe://east.example"]) {
      const r = step(plans(members([written])), "update");
      assert.equal(r.status, 0, r.stderr);
      const { created, updated, deleted, unchanged } = JSON.parse(r.stdout);
      assert.deepEqual(
        { created, updated, deleted, unchanged },
        { created: 0, updated: 0, deleted: 0, unchanged: 2 },
        written,
      );
    }
  });

  it("dropping federatesWith from the member updates just that entry, and restoring it updates it back", () => {
    const dropped = step(plans(members()), "update");
    assert.equal(dropped.status, 0, dropped.stderr);
    assert.equal(JSON.parse(dropped.stdout).updated, 1);
    assert.deepEqual(federation(), { [LOCAL]: [], [FEDERATED]: [] });
    const restored = step(plans(members(["east.example"])), "update");
    assert.equal(restored.status, 0, restored.stderr);
    assert.equal(JSON.parse(restored.stdout).updated, 1);
    assert.deepEqual(federation(), { [LOCAL]: [], [FEDERATED]: ["east.example"] });
  });

  it("east's bundle cannot be deleted while the set federates with it; after the set's delete it can", () => {
    const plan = bundlesOf(west).set("east.example", undefined).delete;
    const refused = runStep(BUNDLE_RUNNER, plan);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /bundle delete of east\.example failed: .*federated with 1 registration entries/,
    );
    const deleted = step(plans(members(["east.example"])), "delete");
    assert.equal(deleted.status, 0, deleted.stderr);
    assert.deepEqual(federation(), {});
    const gone = runStep(BUNDLE_RUNNER, plan);
    assert.equal(gone.status, 0, gone.stderr);
    assert.deepEqual(JSON.parse(gone.stdout), { trustDomain: "east.example", outcome: "deleted" });
    const listed = west.server(["bundle", "list", "-output", "json"]);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).bundles, []);
  });
});
