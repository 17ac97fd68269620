/**
 * bin/spire-drift.js as a process, without SPIRE: a stand-in `pulumi` prints a stack's state (plans built by the
 * real builders, with a stand-in server CLI as their exec prefix), and the stand-in server answers `entry show`
 * only, refusing anything else. Exit status, report, what reached `pulumi` and the server, and what --repair runs.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { entryCommands, entryPlans } from "../../spire/entries";
import type { DeclaredEntry } from "../../spire/entryDiff";
import { entrySetCommand, entrySetCommands } from "../../spire/entrySet";
import { runnerInterpreter } from "../../spire/runners";

const REPO_ROOT = path.resolve(__dirname, "../..");
const TD = "example.org";
const SECRET = "4dabf18193072939515e22adb298388d";

const entry = (name: string): DeclaredEntry => ({
  entryId: `proj.ci.${name}`,
  spiffeId: `spiffe://${TD}/${name}`,
  parentId: `spiffe://${TD}/agent`,
  selectors: [{ type: "k8s", value: `sa:${name}` }],
  x509SvidTtl: 600,
  dnsNames: [],
  federatesWith: [],
});

/** An entry as `entry show -output json` prints it. */
const shown = (e: DeclaredEntry, over: Record<string, unknown> = {}) => ({
  id: e.entryId,
  spiffe_id: { trust_domain: TD, path: e.spiffeId.slice(`spiffe://${TD}`.length) },
  parent_id: { trust_domain: TD, path: "/agent" },
  selectors: e.selectors,
  x509_svid_ttl: e.x509SvidTtl,
  ...over,
});

describe("bin/spire-drift.js against a stand-in pulumi and server", function () {
  this.timeout(60_000);
  let dir: string;
  let server: string;

  /** Writes the stand-ins; the server holds `entries` and refuses every call but `entry show -output json`. */
  const standIns = (exported: unknown, entries: unknown[], showFails = false) => {
    fs.writeFileSync(path.join(dir, "export.json"), JSON.stringify(exported));
    fs.writeFileSync(path.join(dir, "entries.json"), JSON.stringify({ entries }));
    fs.writeFileSync(
      path.join(dir, "bin", "pulumi"),
      `#!/bin/sh\necho "$@" >>"${dir}/pulumi-calls"\ncat "${dir}/export.json"\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(
      server,
      [
        "#!/bin/sh",
        `echo "$KUBECONFIG $*" >>"${dir}/server-calls"`,
        showFails ? 'echo "connection refused" >&2; exit 1' : "",
        `if [ "$*" = "entry show -output json" ]; then cat "${dir}/entries.json"; exit 0; fi`,
        'echo "stand-in server: does not model $*" >&2',
        "exit 3",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
  };
  const calls = (file: string) =>
    fs.existsSync(path.join(dir, file))
      ? fs.readFileSync(path.join(dir, file), "utf8").trim().split("\n")
      : [];

  const drift = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(REPO_ROOT, "bin", "spire-drift.js"), ...args], {
      encoding: "utf8",
      cwd: dir,
      timeout: 30_000,
      env: { ...process.env, PATH: `${path.join(dir, "bin")}:${process.env.PATH}`, KUBECONFIG: "/test/own" },
    });

  /** A state with two SpireEntry commands and a two-member SpireEntrySet, reaching the server as the state says. */
  const state = () => {
    const environment = { [SECRET]: "1", plaintext: JSON.stringify({ KUBECONFIG: "/from/state" }) };
    const single = ["a", "b"].map((name) => {
      const plans = entryPlans(entryCommands([server], entry(name)), entry(name));
      return {
        urn: `urn:pulumi:ci::proj::spire-mesh:index:SpireEntry$command:local:Command::${name}-entry`,
        type: "command:local:Command",
        parent: `urn:pulumi:ci::proj::spire-mesh:index:SpireEntry::${name}`,
        inputs: { interpreter: runnerInterpreter("spire-entry.js"), ...plans, environment },
        outputs: {},
      };
    });
    const set = entrySetCommand(entrySetCommands([server]), [entry("c"), entry("d")]);
    return {
      deployment: {
        resources: [
          { urn: "urn:pulumi:ci::proj::pulumi:pulumi:Stack::proj-ci", type: "pulumi:pulumi:Stack" },
          ...single,
          {
            urn: "urn:pulumi:ci::proj::spire-mesh:index:SpireEntrySet$command:local:Command::bulk-entries",
            type: "command:local:Command",
            parent: "urn:pulumi:ci::proj::spire-mesh:index:SpireEntrySet::bulk",
            inputs: { interpreter: runnerInterpreter("spire-entry-set.js"), ...set, environment },
            outputs: { stdout: { [SECRET]: "1", plaintext: JSON.stringify('{"entryIds":[]}') } },
          },
        ],
      },
    };
  };
  const asDeclared = () => ["a", "b", "c", "d"].map((n) => shown(entry(n)));

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "spire-drift-"));
    fs.mkdirSync(path.join(dir, "bin"));
    server = path.join(dir, "bin", "spire-server");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("no drift: exit 0, the entries counted; the server asked once, with the state's cluster access", () => {
    // Another stack's entry on the same server is not this stack's business.
    standIns(state(), [...asDeclared(), shown({ ...entry("x"), entryId: "proj.prod.x" })]);
    const r = drift("--stack", "ci");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      r.stdout,
      "proj/ci: no drift: all 4 declared entries on 1 server as declared, none unexpected under proj.ci.\n",
    );
    assert.deepEqual(calls("pulumi-calls"), ["stack export --stack ci --show-secrets --non-interactive"]);
    assert.deepEqual(calls("server-calls"), ["/from/state entry show -output json"]);
  });

  it("drift: exit 1 with the report; --repair runs the update steps' own argv, and still exits 1 when they fail", () => {
    const changed = asDeclared().map((e) => (e.id === "proj.ci.c" ? { ...e, hint: "planted" } : e));
    standIns(state(), [...changed.filter((e) => e.id !== "proj.ci.a"), shown(entry("stray"))]);
    const r = drift("--stack", "ci");
    assert.equal(r.status, 1, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      `proj/ci: entries under proj.ci. on ${server}`,
      `  missing     proj.ci.a (spiffe://${TD}/a), declared by SpireEntry a`,
      `  changed     proj.ci.c (spiffe://${TD}/c), declared by SpireEntrySet bulk`,
      '                hint: "planted" → ""',
      `  unexpected  proj.ci.stray (spiffe://${TD}/stray), declared by no resource of the stack`,
      "proj/ci: drift: 1 missing, 1 changed, 1 unexpected; 2 of 4 declared entries on 1 server as declared",
    ]);

    fs.rmSync(path.join(dir, "server-calls"));
    const repair = drift("--stack", "ci", "--repair");
    assert.equal(repair.status, 1, "the stand-in refused the repair's calls, so drift is left");
    assert.deepEqual(repair.stdout.match(/^repair: .*$/gm), [
      "repair: SpireEntry a: its update step",
      "repair: SpireEntrySet bulk: its update step",
      "repair: delete 1 unexpected entry (proj.ci.stray)",
    ]);
    assert.match(repair.stdout, /stand-in server: does not model entry update/);
    // Each call reached the server with the state's access, by the argv the plans hold.
    const a = entryCommands([server], entry("a"));
    assert.deepEqual(calls("server-calls"), [
      "/from/state entry show -output json",
      `/from/state ${a.update.slice(1).join(" ")}`,
      "/from/state entry show -output json",
      "/from/state entry update -data - -output json",
      "/from/state entry delete -file - -output json",
      "/from/state entry show -output json",
    ]);
    assert.match(repair.stdout, /after the repair:\nproj\/ci: entries under proj\.ci\./);
  });

  it("exit 2 when the check cannot run: a server that does not answer, a stack without entries, bad arguments", () => {
    standIns(state(), asDeclared(), true);
    const down = drift("--stack", "ci");
    assert.equal(down.status, 2);
    assert.match(
      down.stderr,
      new RegExp(`^spire-drift: entry show on ${server} failed: .*connection refused`),
    );

    standIns({ deployment: { resources: state().deployment.resources.slice(0, 1) } }, asDeclared());
    const empty = drift("--stack", "ci");
    assert.equal(empty.status, 2);
    assert.match(
      empty.stderr,
      /the state of proj\/ci holds no SpireEntry or SpireEntrySet: nothing to compare/,
    );

    for (const args of [[], ["--stack"], ["--stack", "ci", "--fix"]]) {
      const bad = drift(...args);
      assert.equal(bad.status, 2, args.join(" "));
      assert.match(bad.stderr, /usage: npm run drift -- --stack <name> \[--repair\]/);
    }
  });
});
