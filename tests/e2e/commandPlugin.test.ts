/**
 * The engine-level rules of command:local:Command under the real Pulumi CLI, with the stand-in plugin: what a
 * trigger change replaces and in which order, what a failed update leaves in the state, and that a failed create
 * leaves nothing; that the `command:local:run` invoke runs at preview as at up. The per-call rules are pinned in
 * tests/local/commandProvider.test.ts.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initStack, type PulumiStack, pulumi, pulumiOk } from "../../local/pulumiCli";

const FIXTURE = path.resolve(__dirname, "../fixtures/command-project");

describe("command:local:Command under the real engine (stand-in plugin)", function () {
  this.timeout(120_000);
  let work: string;
  let stack: PulumiStack;
  let journal: string;

  const setConfig = async (values: Record<string, string>) => {
    for (const [key, value] of Object.entries(values)) await pulumiOk(stack, ["config", "set", key, value]);
  };
  const journalLines = () => fs.readFileSync(journal, "utf8").trim().split("\n");
  const resourcesOfType = async (type: string) => {
    const exported = JSON.parse((await pulumiOk(stack, ["stack", "export"])).stdout);
    return {
      resources: (exported.deployment.resources ?? []).filter((r: { type: string }) => r.type === type),
      pending: exported.deployment.pending_operations ?? [],
    };
  };

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "spm-cmd-"));
    journal = path.join(work, "journal");
    fs.writeFileSync(journal, "");
    stack = initStack({ projectDir: FIXTURE, stack: "rules", workDir: work, kubeconfig: "/dev/null" });
    await setConfig({ journal, generation: "1", trigger: "a" });
    await pulumiOk(stack, ["up", "--yes", "--skip-preview"]);
  });

  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("creates each command once", () => {
    assert.deepEqual(journalLines().sort(), ["create replaced 1", "create updated"]);
  });

  it("a trigger change replaces, creating the new command before deleting the old; other changes update", async () => {
    await setConfig({ generation: "2", trigger: "b" });
    const preview = JSON.parse((await pulumiOk(stack, ["preview", "--json"])).stdout);
    assert.deepEqual(preview.changeSummary, { replace: 1, same: 1, update: 1 });
    fs.writeFileSync(journal, "");
    await pulumiOk(stack, ["up", "--yes", "--skip-preview"]);
    const lines = journalLines();
    assert.deepEqual([...lines].sort(), ["create replaced 2", "delete replaced 1", "update updated 2"]);
    assert.ok(lines.indexOf("create replaced 2") < lines.indexOf("delete replaced 1"), lines.join("; "));
  });

  it("a failed update fails the up with the command's output and keeps the old state", async () => {
    const before = (await resourcesOfType("command:local:Command")).resources.find((r: { urn: string }) =>
      r.urn.endsWith("::updated"),
    );
    await setConfig({ failUpdate: "true" });
    const r = await pulumi(stack, ["up", "--yes", "--skip-preview"]);
    assert.notEqual(r.status, 0);
    assert.match(
      r.stdout + r.stderr,
      /exit status 7: running "echo update refused >&2; exit 7":\s+update refused/,
    );
    const after = (await resourcesOfType("command:local:Command")).resources.find((r: { urn: string }) =>
      r.urn.endsWith("::updated"),
    );
    assert.deepEqual(after.outputs, before.outputs);
  });

  it("a failed create leaves no resource and no pending operation in the state", async () => {
    await setConfig({ failUpdate: "false", addFailing: "true" });
    const r = await pulumi(stack, ["up", "--yes", "--skip-preview"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /exit status 4: running "echo create refused >&2; exit 4"/);
    const { resources, pending } = await resourcesOfType("command:local:Command");
    assert.deepEqual(resources.map((x: { urn: string }) => x.urn.split("::").pop()).sort(), [
      "replaced",
      "updated",
    ]);
    assert.deepEqual(pending, []);
  });

  it("the local.run invoke runs whenever the program runs, preview included, and hands stdout to the program", async () => {
    await setConfig({ addFailing: "false", invoke: "true" });
    fs.writeFileSync(journal, "");
    await pulumiOk(stack, ["preview"]);
    assert.deepEqual(
      journalLines(),
      ["run 2"],
      "the engine invokes at preview: a program that must not exec then skips it",
    );
    await pulumiOk(stack, ["up", "--yes", "--skip-preview"]);
    assert.deepEqual(journalLines(), ["run 2", "run 2"]);
    const outputs = JSON.parse((await pulumiOk(stack, ["stack", "output", "--json"])).stdout);
    assert.equal(outputs.ran, "ran 2");
    await setConfig({ invoke: "false" });
  });

  it("destroy runs each delete from the state", async () => {
    await setConfig({ addFailing: "false" });
    fs.writeFileSync(journal, "");
    await pulumiOk(stack, ["destroy", "--yes", "--skip-preview"]);
    assert.deepEqual(journalLines().sort(), ["delete replaced 2", "delete updated"]);
  });
});
