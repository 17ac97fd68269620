/**
 * The entry runners' reports, read back as the components' `outcome`: the runners against a stand-in
 * spire-server that answers the few calls they make (and refuses any other), so the report they print is the
 * one spire/entryOutcome.ts parses, and an update carries exactly the entries that differ.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { entryCommands, entryPlans, resolveEntry } from "../../spire/entries";
import { entryOutcome, entrySetOutcome } from "../../spire/entryOutcome";
import { entrySetCommand, entrySetCommands, resolveEntrySet } from "../../spire/entrySet";

const REPO_ROOT = path.resolve(__dirname, "../..");
const TD = "example.org";
const AGENTS = `spiffe://${TD}/ns/spire/sa/spire-agent`;
const ctx = { trustDomain: TD, selectorTypes: ["k8s"] };

/**
 * Answers `entry show` with the entries in $STANDIN/shown.json, `entry create` with $STANDIN/create-code (OK by
 * default), `entry update -data -` and `entry delete -file -` with OK for each item; logs each call's verb and
 * stdin to $STANDIN/calls.jsonl. Anything else exits 2.
 */
const STANDIN = `#!${process.execPath}
const fs = require("fs"), path = require("path");
const dir = process.env.STANDIN;
const [, verb] = process.argv.slice(2);
const stdin = process.argv.includes("-") ? JSON.parse(fs.readFileSync(0, "utf8")) : undefined;
fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify({ verb, stdin }) + "\\n");
const ok = (items) => ({ results: items.map(() => ({ status: { code: 0 } })) });
const shown = JSON.parse(fs.readFileSync(path.join(dir, "shown.json"), "utf8"));
let out;
if (verb === "show") out = process.argv.includes("-entryID") ? { entries: shown.slice(0, 1) } : { entries: shown };
else if (verb === "create" && stdin) out = ok(stdin.entries);
else if (verb === "create") {
  const code = Number(fs.existsSync(path.join(dir, "create-code")) ? fs.readFileSync(path.join(dir, "create-code"), "utf8") : 0);
  out = { results: [{ status: { code, message: code ? "similar entry already exists" : "OK" } }] };
} else if (verb === "update") out = stdin ? ok(stdin.entries) : ok([1]);
else if (verb === "delete" && stdin) out = ok(stdin.ids);
else { process.stderr.write("stand-in: no model for " + process.argv.slice(2).join(" ")); process.exit(2); }
process.stdout.write(JSON.stringify(out));
`;

/** The entry as `entry show -output json` prints it. */
const asShown = (
  e: { entryId: string; spiffeId: string; parentId: string },
  extra: Record<string, unknown>,
) => {
  const id = (s: string) => ({ trust_domain: TD, path: s.slice(`spiffe://${TD}`.length) });
  return {
    id: e.entryId,
    spiffe_id: id(e.spiffeId),
    parent_id: id(e.parentId),
    selectors: [
      { type: "k8s", value: `sa:${e.entryId.split(".").pop()}` },
      { type: "k8s", value: "ns:app" },
    ],
    ...extra,
  };
};

describe("bin/spire-entry*.js: the report the components' outcome reads", () => {
  let dir: string;
  let server: string;
  const calls = () =>
    fs
      .readFileSync(path.join(dir, "calls.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as { verb: string; stdin?: { entries?: { entry_id: string }[]; ids?: string[] } },
      );

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "entry-standin-"));
    server = path.join(dir, "spire-server");
    fs.writeFileSync(server, STANDIN, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "calls.jsonl"), "");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (runner: string, arg: string, options: { stdin?: string; previous?: string } = {}) => {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin", runner), arg], {
      input: options.stdin ?? "",
      encoding: "utf8",
      timeout: 20_000,
      env: { ...process.env, STANDIN: dir, PULUMI_COMMAND_STDOUT: options.previous ?? "" },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  it("spire-entry.js: a create that finds its entry changed updates it and reports the fields", () => {
    const spec = {
      spiffeId: `spiffe://${TD}/web`,
      parentId: AGENTS,
      selectors: ["k8s:ns:app", "k8s:sa:web"],
    };
    const entry = resolveEntry("web", "spire-mesh.test.web", spec, ctx);
    fs.writeFileSync(path.join(dir, "create-code"), "6");
    fs.writeFileSync(
      path.join(dir, "shown.json"),
      JSON.stringify([asShown(entry, { admin: true, hint: "x" })]),
    );
    const plans = entryPlans(entryCommands([server], entry), entry);
    const stdout = run("spire-entry.js", plans.create);
    assert.deepEqual(
      calls().map((c) => c.verb),
      ["create", "show", "update"],
    );
    assert.deepEqual(entryOutcome(stdout), { outcome: "updated", differed: ["admin", "hint"] });
  });

  it("spire-entry-set.js: an update creates, updates, deletes and leaves alone by difference, and counts so", () => {
    const member = (name: string, x509SvidTtl = "10m") => ({
      name,
      spiffeId: `spiffe://${TD}/${name}`,
      parentId: AGENTS,
      selectors: ["k8s:ns:app", `k8s:sa:${name}`],
      x509SvidTtl,
    });
    const entries = resolveEntrySet(
      "set",
      "spire-mesh",
      "test",
      ["kept", "changed", "added"].map((n) => member(n)),
      ctx,
    );
    const [kept, changed, added] = entries;
    const dropped = resolveEntrySet("set", "spire-mesh", "test", [member("dropped")], ctx)[0];
    // A sibling SpireEntry of the same stack: the same ID prefix, never registered by this set.
    const sibling = resolveEntrySet("set", "spire-mesh", "test", [member("sibling")], ctx)[0];
    fs.writeFileSync(
      path.join(dir, "shown.json"),
      JSON.stringify([
        asShown(kept, { x509_svid_ttl: 600 }),
        asShown(changed, { x509_svid_ttl: 600, store_svid: true }),
        asShown(dropped, { x509_svid_ttl: 600 }),
        asShown(sibling, { x509_svid_ttl: 600 }),
      ]),
    );
    const previous = JSON.stringify({ entryIds: [kept.entryId, changed.entryId, dropped.entryId] });
    const command = entrySetCommand(entrySetCommands([server]), entries);
    const stdout = run("spire-entry-set.js", command.update, { stdin: command.stdin, previous });
    const byVerb = Object.fromEntries(calls().map((c) => [c.verb, c.stdin]));
    assert.deepEqual(Object.keys(byVerb), ["show", "create", "update", "delete"]);
    assert.deepEqual(
      byVerb.create?.entries?.map((e) => e.entry_id),
      [added.entryId],
    );
    assert.deepEqual(
      byVerb.update?.entries?.map((e) => e.entry_id),
      [changed.entryId],
    );
    assert.deepEqual(byVerb.delete?.ids, [dropped.entryId]);
    assert.deepEqual(entrySetOutcome(stdout), {
      created: 1,
      updated: 1,
      deleted: 1,
      unchanged: 1,
      differed: { store_svid: 1 },
    });
  });
});
