/**
 * The entry runner's Kubernetes access: kubeconfig and context come from the environment, never from argv, and
 * inline kubeconfig contents reach kubectl through a FIFO, never a file on disk. kubectl itself cannot run here
 * (no cluster), so a stand-in records what it was given; the SPIRE side of the runner is proven against real
 * SPIRE in tests/spire/entries.test.ts.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { entrySetCommand, entrySetCommands, resolveEntrySet } from "../../spire/entrySet";

const RUNNER = path.resolve(__dirname, "../../bin/spire-entry.js");
const SET_RUNNER = path.resolve(__dirname, "../../bin/spire-entry-set.js");

/** A stand-in kubectl: answers `config view` from its KUBECONFIG, records everything else. */
const STAND_IN = `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
const file = process.env.KUBECONFIG;
const fifo = file ? fs.statSync(file).isFIFO() : false;
const kubeconfig = file ? fs.readFileSync(file, "utf8") : "";
if (args[0] === "config") { process.stdout.write(kubeconfig); process.exit(0); }
fs.writeFileSync(process.env.RECORD, JSON.stringify({ args, kubeconfig, fifo, file }));
process.stdout.write(JSON.stringify({ results: [{ status: { code: 0 } }] }));
`;

describe("bin/spire-entry.js: Kubernetes access from the environment", () => {
  let dir: string;
  let kubectl: string;
  let record: string;
  const kubeconfig = JSON.stringify({
    contexts: [{ name: "dev" }, { name: "prod" }],
    "current-context": "dev",
    users: [{ name: "admin", user: { "client-key-data": "c2VjcmV0" } }],
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "runner-"));
    kubectl = path.join(dir, "kubectl");
    record = path.join(dir, "record.json");
    fs.writeFileSync(kubectl, STAND_IN, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const deletePlan = () =>
    JSON.stringify({
      step: "delete",
      entryId: "e1",
      delete: [kubectl, "exec", "-i", "--", "spire-server", "entry", "delete"],
    });
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [RUNNER, deletePlan()], {
      encoding: "utf8",
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? "", RECORD: record, ...env },
    });

  it("selects the context by the kubeconfig's current-context, with no context in argv", () => {
    const r = run({ SPIRE_MESH_KUBECONFIG: kubeconfig, SPIRE_MESH_KUBE_CONTEXT: "prod" });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(fs.readFileSync(record, "utf8"));
    assert.deepEqual(seen.args, ["exec", "-i", "--", "spire-server", "entry", "delete"]);
    assert.equal(JSON.parse(seen.kubeconfig)["current-context"], "prod");
  });

  it("hands inline kubeconfig contents over a FIFO that is gone afterwards", () => {
    const r = run({ SPIRE_MESH_KUBECONFIG: kubeconfig });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(fs.readFileSync(record, "utf8"));
    assert.equal(seen.fifo, true, "a FIFO, not a regular file");
    assert.equal(seen.kubeconfig, kubeconfig);
    assert.ok(!fs.existsSync(path.dirname(seen.file)), "its directory is removed");
  });

  it("passes KUBECONFIG (a path) through untouched", () => {
    const file = path.join(dir, "config");
    fs.writeFileSync(file, kubeconfig);
    const r = run({ KUBECONFIG: file });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(fs.readFileSync(record, "utf8")).file, file);
  });

  it("fails clearly on an unknown context, and when kubectl fails without reading its kubeconfig", () => {
    const unknown = run({ SPIRE_MESH_KUBECONFIG: kubeconfig, SPIRE_MESH_KUBE_CONTEXT: "staging" });
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /kubeconfig has no context "staging"/);
    fs.writeFileSync(kubectl, "#!/bin/sh\necho 'cannot reach the cluster' >&2\nexit 3\n", { mode: 0o755 });
    const failed = run({ SPIRE_MESH_KUBECONFIG: kubeconfig });
    assert.equal(failed.status, 1, "the runner must not hang on an unread FIFO");
    assert.match(failed.stderr, /exited 3: cannot reach the cluster/);
  });
});

describe("bin/spire-entry*.js: a kubectl that fails early or hangs", function () {
  this.timeout(60_000);
  let dir: string;
  let kubectl: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "runner-"));
    kubectl = path.join(dir, "kubectl");
  });
  /** Whether the hanging kubectl (its pid recorded in kubectl.pid) still runs. */
  const stuckAlive = () => {
    const pidFile = path.join(dir, "kubectl.pid");
    if (!fs.existsSync(pidFile)) return false;
    try {
      process.kill(Number(fs.readFileSync(pidFile, "utf8")), 0);
      return true;
    } catch {
      return false;
    }
  };
  afterEach(() => {
    // A runner that failed to kill it must not leave it running for the rest of the suite.
    if (stuckAlive()) process.kill(Number(fs.readFileSync(path.join(dir, "kubectl.pid"), "utf8")), "SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const TD = "example.org";
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? "", ...extra });

  it("exits at once without reading a large batch: the runner reports kubectl's stderr, not EPIPE", () => {
    // `entry show` answers; the batch `entry create` fails before reading its input, as kubectl does when the
    // pod or container is gone.
    fs.writeFileSync(
      kubectl,
      `#!/bin/sh
case "$*" in *" show "*) echo '{"entries":[]}'; exit 0;; esac
echo 'error: unable to upgrade connection: container not found ("spire-server")' >&2
exit 1
`,
      { mode: 0o755 },
    );
    const members = Array.from({ length: 1000 }, (_, i) => ({
      name: `svc-${i}`,
      spiffeId: `spiffe://${TD}/ns/bulk/sa/svc-${i}`,
      parentId: `spiffe://${TD}/ns/spire/sa/spire-agent`,
      selectors: ["k8s:ns:bulk", `k8s:sa:svc-${i}`],
    }));
    const entries = resolveEntrySet("set", "p", "s", members, { trustDomain: TD, selectorTypes: ["k8s"] });
    const prefix = [kubectl, "exec", "-i", "-n", "spire", "spire-server-0", "--", "spire-server"];
    const command = entrySetCommand(entrySetCommands(prefix), entries);
    const batchBytes = Buffer.byteLength(JSON.stringify({ entries: JSON.parse(command.stdin).data }));
    assert.ok(batchBytes > 2 * 64 * 1024, `the batch (${batchBytes} bytes) is far more than a pipe holds`);
    const r = spawnSync(process.execPath, [SET_RUNNER, command.create], {
      input: command.stdin,
      encoding: "utf8",
      timeout: 30_000,
      env: env(),
    });
    assert.equal(r.status, 1, r.stdout);
    assert.match(
      r.stderr,
      /^spire-entry-set: the call for 1000 entries \(spiffe:\/\/example\.org\/ns\/bulk\/sa\/svc-0, .* and 997 more\) failed: .*exited 1: error: unable to upgrade connection: container not found/,
    );
    assert.doesNotMatch(r.stderr, /EPIPE/);
  });

  it("hangs: the runner kills it after SPIRE_MESH_CLI_TIMEOUT_SECONDS and fails naming the entry", () => {
    // The stuck process records its pid (kept across exec), to see whether it is left behind.
    const pidFile = path.join(dir, "kubectl.pid");
    fs.writeFileSync(kubectl, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 600\n`, { mode: 0o755 });
    const plan = JSON.stringify({
      step: "create",
      entryId: "p.s.web",
      create: [kubectl, "exec", "-i", "--", "spire-server", "entry", "create"],
      expect: { spiffeId: `spiffe://${TD}/web` },
    });
    const started = Date.now();
    const r = spawnSync(process.execPath, [RUNNER, plan], {
      encoding: "utf8",
      timeout: 30_000,
      env: env({ SPIRE_MESH_CLI_TIMEOUT_SECONDS: "2" }),
    });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.status, 1, `status ${r.status}, signal ${r.signal}: ${r.stderr}`);
    assert.match(
      r.stderr,
      /^spire-entry p\.s\.web \(spiffe:\/\/example\.org\/web\): create failed: .*kubectl exec -i -- spire-server entry create did not finish within 2 s \(SPIRE_MESH_CLI_TIMEOUT_SECONDS\) and was killed/,
    );
    assert.ok(seconds >= 2 && seconds < 20, `failed after ${seconds} s`);
    assert.equal(stuckAlive(), false, "the stuck kubectl is killed, not left behind");
  });

  it("refuses a timeout that is not a positive number of seconds, naming the variable and the value", () => {
    fs.writeFileSync(kubectl, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const plan = JSON.stringify({ step: "delete", entryId: "e1", delete: [kubectl, "exec"] });
    const r = spawnSync(process.execPath, [RUNNER, plan], {
      encoding: "utf8",
      timeout: 20_000,
      env: env({ SPIRE_MESH_CLI_TIMEOUT_SECONDS: "5m" }),
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /SPIRE_MESH_CLI_TIMEOUT_SECONDS = "5m": must be a positive number of seconds/);
  });
});

describe("bin/spire-entry-set.js: the plan's way in", () => {
  let dir: string;
  let server: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "runner-"));
    // A spire-server that records its input and answers OK for each ID it was given.
    server = path.join(dir, "spire-server");
    fs.writeFileSync(
      server,
      `#!${process.execPath}
const input = require("fs").readFileSync(0, "utf8");
require("fs").writeFileSync(${JSON.stringify(path.join(dir, "input.json"))}, input);
process.stdout.write(JSON.stringify({ results: JSON.parse(input).ids.map(() => ({ status: { code: 0 } })) }));
`,
      { mode: 0o755 },
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (arg: string, input = "") =>
    spawnSync(process.execPath, [SET_RUNNER, arg], { input, encoding: "utf8", timeout: 20_000 });

  it("a delete stored before plans moved to stdin (the whole plan as its argument) still deletes its entries", () => {
    const legacy = JSON.stringify({
      step: "delete",
      delete: [server, "entry", "delete", "-file", "-", "-output", "json"],
      ids: ["p.s.a", "p.s.b"],
    });
    const r = run(legacy);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { entryIds: [], deleted: 2 });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "input.json"), "utf8")), {
      ids: ["p.s.a", "p.s.b"],
    });
  });

  it("refuses a plan on stdin that is not the one the step names, and a create without a plan on stdin", () => {
    const entries = resolveEntrySet(
      "set",
      "p",
      "s",
      [
        {
          name: "a",
          spiffeId: "spiffe://example.org/a",
          parentId: "spiffe://example.org/agent",
          selectors: ["unix:uid:1"],
        },
      ],
      { trustDomain: "example.org", selectorTypes: ["unix"] },
    );
    const command = entrySetCommand(entrySetCommands([server]), entries);
    const dropped = run(command.delete, "");
    assert.equal(dropped.status, 1);
    assert.match(
      dropped.stderr,
      /the plan on stdin \(0 bytes, SHA-256 e3b0c442[0-9a-f]+\) is not the one this step names \(SHA-256 [0-9a-f]{64}\): the command provider must pass the command's stdin input/,
    );
    assert.ok(!fs.existsSync(path.join(dir, "input.json")), "nothing ran");
    const whole = run(JSON.stringify({ ...JSON.parse(command.stdin), step: "create" }));
    assert.equal(whole.status, 1);
    assert.match(whole.stderr, /the plan must come on stdin, with its planSha256 in the argument/);
    const ok = run(command.delete, command.stdin);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, "input.json"), "utf8")), { ids: ["p.s.a"] });
  });
});
