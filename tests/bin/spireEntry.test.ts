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

const RUNNER = path.resolve(__dirname, "../../bin/spire-entry.js");

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
