/**
 * 1 000 entries, five times what one argument can carry, through SpireEntrySet's own command as the component
 * renders it, executed by the stand-in command plugin as pulumi-command runs it (interpreter plus the step as
 * argv, the plan on stdin, the previous stdout in PULUMI_COMMAND_STDOUT), against a real spire-server 1.13.3:
 * create, an update that adds, changes and removes 100 each, and delete, with the server's exact state after
 * each. Only the exec prefix is local (the server binary and its socket instead of `kubectl exec`).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { SpireEntrySet } from "../../components";
import { check, commandProvider } from "../../local/commandProvider";
import { type SpireHarness, startSpire } from "../../local/spireHarness";
import { MAX_ENTRY_ID_BYTES } from "../../spire/entrySet";
import { construct } from "../support/mocks";

const SET_RUNNER = path.resolve(__dirname, "../../bin/spire-entry-set.js");
const URN = "urn:pulumi:test::spire-mesh::spire-mesh:index:SpireEntrySet$command:local:Command::bulk-entries";
const provider = commandProvider as Required<typeof commandProvider>;
/** Linux's limit on one argument or environment string (MAX_ARG_STRLEN). */
const MAX_ARG_STRLEN = 128 * 1024;

type Inputs = Record<string, unknown> & { stdin: string; create: string; interpreter: string[] };

describe("SpireEntrySet with 1000 entries: its rendered command, run by the command plugin, against spire-server 1.13.3", function () {
  this.timeout(300_000);
  let spire: SpireHarness;
  let state: Record<string, unknown>;

  const member = (i: number, ttl = "10m") => ({
    name: `svc-${i}`,
    spiffeId: `spiffe://${spire.trustDomain}/bulk/svc-${i}`,
    parentId: spire.agentId,
    selectors: [`unix:uid:${30000 + i}`],
    x509SvidTtl: ttl,
  });
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

  /** The command resource's inputs as SpireEntrySet registers them for these members. */
  async function rendered(members: ReturnType<typeof member>[]): Promise<Inputs> {
    const { value, resources } = await construct(
      () =>
        new SpireEntrySet("bulk", {
          trustDomain: spire.trustDomain,
          serverExecPrefix: [spire.serverBin],
          serverSocketPath: spire.serverSocket,
          entries: members,
        }),
    );
    assert.ok(value instanceof SpireEntrySet, String(value));
    const command = resources.find((r) => r.type === "command:local:Command");
    assert.ok(command);
    const inputs = command.inputs as Inputs;
    assert.deepEqual(check(inputs).failures, [], "the plugin accepts the inputs");
    return inputs;
  }

  /** The set's entries on the server, as `<id> <ttl>`. */
  const onServer = () =>
    spire
      .entries()
      .filter((e) => e.spiffe_id.path.startsWith("/bulk/"))
      .map((e) => `${e.id} ${e.x509_svid_ttl}`)
      .sort();
  const expected = (members: ReturnType<typeof member>[]) =>
    members.map((m) => `spire-mesh.test.${m.name} ${Number.parseInt(m.x509SvidTtl, 10) * 60}`).sort();

  /** Every string the next run gets as argv or environment, over Linux's per-string limit: none may be. */
  const oversized = (inputs: Inputs, previousStdout: string) =>
    [
      ...inputs.interpreter,
      inputs.create,
      inputs.update as string,
      inputs.delete as string,
      ...Object.values((inputs.environment as Record<string, string>) ?? {}),
      previousStdout,
    ].filter((s) => Buffer.byteLength(s) >= MAX_ARG_STRLEN);

  before(async () => {
    spire = await startSpire();
  });
  after(async () => {
    await spire?.stop();
  });

  it("the plan is past what one argument may hold: as an argument, Linux refuses to start the runner (E2BIG)", async () => {
    const inputs = await rendered(range(0, 1000).map((i) => member(i)));
    assert.ok(
      Buffer.byteLength(inputs.stdin) > 4 * MAX_ARG_STRLEN,
      `${Buffer.byteLength(inputs.stdin)} bytes`,
    );
    const r = spawnSync(process.execPath, [SET_RUNNER, inputs.stdin], { encoding: "utf8" });
    assert.equal((r.error as NodeJS.ErrnoException | undefined)?.code, "E2BIG");
  });

  it("create registers all 1000 entries", async () => {
    const members = range(0, 1000).map((i) => member(i));
    const inputs = await rendered(members);
    const { outs } = await provider.create(URN, inputs);
    state = outs;
    const out = JSON.parse(outs.stdout as string);
    assert.equal(out.created, 1000);
    assert.deepEqual(onServer(), expected(members));
    assert.ok(Buffer.byteLength(outs.stdout as string) <= MAX_ENTRY_ID_BYTES + 1024);
    assert.deepEqual(oversized(inputs, outs.stdout as string), []);
  });

  it("an update adds 100, changes 100 and removes 100, leaving the other 800 alone", async () => {
    const members = [
      ...range(100, 200).map((i) => member(i, "20m")),
      ...range(200, 1100).map((i) => member(i)),
    ];
    const inputs = await rendered(members);
    const { outs } = await provider.update("id", URN, state, inputs);
    state = outs;
    const { created, updated, deleted, unchanged, differed } = JSON.parse(outs.stdout as string);
    assert.deepEqual(
      { created, updated, deleted, unchanged },
      { created: 100, updated: 100, deleted: 100, unchanged: 800 },
    );
    assert.deepEqual(Object.keys(differed), ["x509_svid_ttl"]);
    assert.equal(differed.x509_svid_ttl.count, 100);
    assert.equal(differed.x509_svid_ttl.entries.length, 10, "named up to 10 per field, the rest counted");
    assert.deepEqual(onServer(), expected(members));
  });

  it("delete, with the stored state's stdin, removes all 1000", async () => {
    await provider.delete("id", URN, state);
    assert.deepEqual(onServer(), []);
  });
});
