/**
 * The peer's bundle snapshot is a bootstrap, on two real spire-server 1.13.3 (local/spireHarness.ts): east's CA
 * lives 120 s, so its bundle changes and the snapshot's root expires within the test; west federates with east over
 * https_spiffe and is bootstrapped through SpireInstallation's own `bundle set` plan (bin/spire-bundle.js).
 *
 * The fault (issue 21, item 2): the set command re-runs whenever its environment changes (a new server
 * generation, a kubeconfig change) and put back the snapshot from the peer's last `up`. Once that snapshot's
 * roots are retired, west can no longer authenticate east's endpoint and its copy of east's bundle stops
 * moving. Proved here: the re-run keeps west's fresher copy, and west keeps refreshing from east afterwards; a
 * new server (fresh datastore) is refused the expired snapshot with a message naming east; a peer rebuilt from
 * scratch (sequence restarted, newer root) is still taken.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../../local/ports";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { bundleCommands, bundlePlans } from "../../spire/bundles";

const RUNNER = path.resolve(__dirname, "..", "..", "bin", "spire-bundle.js");
const EAST = "east.example";

/** Runs one bin/spire-bundle.js plan as the command provider would: status, stdout, stderr. */
const runPlan = (plan: string) =>
  spawnSync(process.execPath, [RUNNER, plan], { encoding: "utf8", timeout: 30_000 });

function mustRun(plan: string): string {
  const r = runPlan(plan);
  if (r.status !== 0) throw new Error(r.stderr.trim());
  return r.stdout;
}

const plansFor = (spire: SpireHarness) => bundlePlans(bundleCommands([spire.serverBin], spire.serverSocket));

interface Held {
  readonly sequence: number;
  /** Root certificates by fingerprint. */
  readonly roots: readonly string[];
}

/** West's copy of east's bundle (`bundle list`), or undefined when it holds none. */
function heldBy(spire: SpireHarness): Held | undefined {
  const r = spire.server(["bundle", "list", "-output", "json"]);
  assert.equal(r.status, 0, r.stderr);
  const bundle = (JSON.parse(r.stdout).bundles ?? []).find(
    (b: { trust_domain: string }) => b.trust_domain === EAST,
  );
  if (!bundle) return undefined;
  return {
    sequence: Number(bundle.sequence_number ?? 0),
    roots: bundle.x509_authorities.map(
      (a: { asn1: string }) => new X509Certificate(Buffer.from(a.asn1, "base64")).fingerprint256,
    ),
  };
}

/** A snapshot (`bundle show -format spiffe`, the installation's `bundle` output): sequence and roots. */
function snapshotOf(text: string): Held & { expires: number } {
  const bundle = JSON.parse(text);
  const roots = bundle.keys
    .filter((k: { use: string }) => k.use === "x509-svid")
    .map((k: { x5c: string[] }) => new X509Certificate(Buffer.from(k.x5c[0], "base64")));
  return {
    sequence: Number(bundle.spiffe_sequence ?? 0),
    roots: roots.map((c: X509Certificate) => c.fingerprint256),
    expires: Math.max(...roots.map((c: X509Certificate) => Date.parse(c.validTo))),
  };
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(500);
  }
}

describe("federation bootstrap: a stale snapshot never replaces the bundle SPIRE keeps fresh (two real servers)", function () {
  this.timeout(600_000);
  const spires: SpireHarness[] = [];
  let east: SpireHarness;
  let west: SpireHarness;
  /** East's bundle as its stack exported it at its last `up`: before any rotation. */
  let snapshot: string;

  before(async () => {
    const [eastPort, westPort] = [await freePort(), await freePort()];
    // A 120 s CA: east prepares its next root at half-life and activates it at five sixths. West's first poll
    // after the bootstrap comes a minute later (SPIRE's minimum refresh), while the snapshot's root still signs.
    east = await startSpire({
      settings: {
        trustDomain: EAST,
        caTtl: "120s",
        x509SvidTtl: "20s",
        federation: { bundleEndpoint: { port: eastPort, refreshHint: "1m" } },
      },
    });
    spires.push(east);
    west = await startSpire({
      settings: {
        trustDomain: "west.example",
        federation: {
          bundleEndpoint: { port: westPort },
          federatesWith: [
            {
              trustDomain: EAST,
              bundleEndpointUrl: `https://127.0.0.1:${eastPort}`,
              endpointSpiffeId: `spiffe://${EAST}/spire/server`,
            },
          ],
        },
      },
    });
    spires.push(west);
    snapshot = mustRun(plansFor(east).show);
  });
  after(async () => {
    for (const s of spires) await s.stop();
  });

  it("the snapshot names its sequence number, which SPIRE 1.13.3 raises as east's bundle changes", () => {
    const shown = snapshotOf(snapshot);
    assert.ok(shown.sequence >= 1, `spiffe_sequence in ${snapshot}`);
    assert.equal(shown.roots.length, 1);
  });

  it("first contact: the plan sets the snapshot on a server that holds no bundle for east", () => {
    assert.equal(heldBy(west), undefined);
    const out = JSON.parse(mustRun(plansFor(west).set(EAST, snapshot).create));
    assert.equal(out.outcome, "set", out.reason);
    assert.match(out.reason, /holds no bundle for east\.example/);
    assert.deepEqual(heldBy(west), {
      sequence: snapshotOf(snapshot).sequence,
      roots: snapshotOf(snapshot).roots,
    });
    // server.conf's audit_log_enabled: the change of trust is on record, with its caller.
    const audit = fs
      .readFileSync(west.servers[0].logFile, "utf8")
      .split("\n")
      .filter((line) => /type=audit/.test(line) && /BatchSetFederatedBundle/.test(line));
    assert.equal(audit.length >= 1, true, "an audit record of the bundle set");
  });

  it("a re-run (new generation, new kubeconfig) keeps west's fresher copy, and west keeps refreshing from east", async () => {
    const first = snapshotOf(snapshot);
    // West fetches east's next root from east's endpoint: its copy is now newer than the snapshot.
    const fresher = await until(
      "west's copy of east's bundle to learn east's next root",
      () => {
        const held = heldBy(west);
        return held?.roots.some((r) => !first.roots.includes(r)) ? held : undefined;
      },
      240_000,
    );
    // Why the runner compares roots: SPIRE 1.13.3 stores a refreshed copy without its sequence number.
    assert.equal(fresher.sequence, 0, "the refreshed copy's sequence_number");
    // The case: the snapshot is older than its CA (two days with the 24h default): only retired roots.
    await until(
      "the snapshot's root to expire",
      () => (Date.now() > first.expires + 1000 ? true : undefined),
      180_000,
    );

    const rerun = runPlan(plansFor(west).set(EAST, snapshot).create);
    assert.equal(rerun.status, 0, rerun.stderr);
    const out = JSON.parse(rerun.stdout);
    assert.equal(out.outcome, "kept", rerun.stdout);
    const after = heldBy(west) as Held;
    const learned = fresher.roots.filter((r) => !first.roots.includes(r));
    for (const root of learned)
      assert.ok(after.roots.includes(root), "west lost a root it had learned from east");

    // And federation stays up: once east's bundle changes again, west's copy follows. Had the snapshot been put
    // back, west would hold only an expired root and could not authenticate east's endpoint again.
    const eastRoots = () => snapshotOf(mustRun(plansFor(east).show)).roots;
    const same = (a: readonly string[], b: readonly string[]) =>
      a.length === b.length && a.every((x) => b.includes(x));
    const target = await until(
      "east's bundle to change again",
      () => {
        const now = eastRoots();
        return same(now, after.roots) ? undefined : now;
      },
      180_000,
    );
    await until(
      "west's copy to follow east's bundle",
      () =>
        same(heldBy(west)?.roots ?? [], target) || same(heldBy(west)?.roots ?? [], eastRoots())
          ? true
          : undefined,
      180_000,
    );
  });

  it("a new server (fresh datastore) is refused the expired snapshot, naming east; east's current bundle is taken", async () => {
    const fresh = await startSpire({ settings: { trustDomain: "west.example" } });
    spires.push(fresh);
    const first = snapshotOf(snapshot);
    assert.ok(Date.now() > first.expires, "the snapshot's only root has expired");
    const refused = runPlan(plansFor(fresh).set(EAST, snapshot).create);
    assert.notEqual(refused.status, 0, refused.stdout);
    assert.match(
      refused.stderr,
      /the bundle for east\.example holds only expired roots .*Run pulumi up on the east\.example stack/,
    );
    assert.equal(heldBy(fresh), undefined, "nothing was set");
    // What the peer's `up` publishes now is accepted: the refusal is about staleness, not the server.
    const current = mustRun(plansFor(east).show);
    assert.equal(JSON.parse(mustRun(plansFor(fresh).set(EAST, current).create)).outcome, "set");
    assert.deepEqual(heldBy(fresh)?.roots, snapshotOf(current).roots);
  });

  it("a peer rebuilt from scratch (sequence restarted, newer root) is still taken", async () => {
    const rebuilt = await startSpire({ settings: { trustDomain: EAST } });
    spires.push(rebuilt);
    const fresh = snapshotOf(mustRun(plansFor(rebuilt).show));
    const old = snapshotOf(mustRun(plansFor(east).show));
    assert.ok(fresh.sequence < old.sequence, `rebuilt sequence ${fresh.sequence}, east's ${old.sequence}`);
    const out = JSON.parse(mustRun(plansFor(west).set(EAST, mustRun(plansFor(rebuilt).show)).create));
    assert.equal(out.outcome, "set", out.reason);
    assert.deepEqual(heldBy(west)?.roots, fresh.roots);
  });
});
