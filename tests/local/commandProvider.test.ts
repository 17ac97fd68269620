/**
 * The stand-in command plugin's rules, one test each, as pulumi/pulumi-command 1.x defines them (its
 * local/command*.go on pulumi-go-provider's infer). The engine-level rules (replacement order, failed steps and
 * the state, the invoke through the engine) run under the real CLI in tests/e2e/commandPlugin.test.ts.
 */
import * as assert from "node:assert/strict";
import { check, commandProvider, diff, reveal } from "../../local/commandProvider";
import { invokeRun, RUN_TOKEN } from "../../local/commandRun";

const SIG = "4dabf18193072939515e22adb298388d";
const secret = (value: unknown) => ({ [SIG]: "1b47061264138c4ac30d75fd1eb44270", value });
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const URN = "urn:pulumi:dev::p::command:local:Command::entry";
/** An interpreter that prints its arguments and the variables a test asks about, as JSON. */
const printer = (...vars: string[]) => [
  process.execPath,
  "-e",
  `console.log(JSON.stringify({ argv: process.argv.slice(1), env: Object.fromEntries(${JSON.stringify(vars)}.map((k) => [k, process.env[k] ?? null])) }))`,
];
const provider = commandProvider as Required<typeof commandProvider>;

describe("stand-in command plugin: diff", () => {
  it("a changed create is an in-place update, not a replacement", () => {
    assert.deepEqual(diff({ create: "a", stdout: "x" }, { create: "b" }), { changes: true, replaces: [] });
  });

  it("a changed trigger replaces the resource", () => {
    assert.deepEqual(diff({ create: "a", triggers: ["1"] }, { create: "a", triggers: ["2"] }), {
      changes: true,
      replaces: ["triggers"],
    });
  });

  it("a changed delete alone is still an update (the update command then runs)", () => {
    assert.deepEqual(diff({ create: "a", delete: "x" }, { create: "a", delete: "y" }), {
      changes: true,
      replaces: [],
    });
  });

  it("equal inputs, one of them secret-wrapped, are no change; outputs are not compared", () => {
    const olds = { create: "a", environment: { K: secret("v") }, stdout: "old", stderr: "" };
    assert.deepEqual(diff(olds, { create: "a", environment: { K: "v" } }), { changes: false, replaces: [] });
  });

  it("an unknown new value counts as a change", () => {
    assert.deepEqual(diff({ create: "a" }, { create: UNKNOWN }), { changes: true, replaces: [] });
  });
});

describe("stand-in command plugin: check", () => {
  it("refuses inputs the stand-in does not implement, and names them", () => {
    const result = check({ create: "a", stdin: "x", dir: "/tmp", logging: "none" });
    assert.deepEqual(
      result.failures?.map((f) => f.property),
      ["dir", "logging"],
    );
    assert.match(result.failures?.[0].reason ?? "", /not implemented by the offline stand-in/);
  });

  it("refuses unknown inputs and wrong types; accepts unknown values at preview", () => {
    const result = check({
      create: 1,
      interpreter: "sh",
      stdin: 3,
      environment: { A: 2 },
      bogus: true,
      update: UNKNOWN,
    });
    assert.deepEqual(
      result.failures?.map((f) => f.property),
      ["create", "interpreter", "stdin", "environment", "bogus"],
    );
  });
});

describe("stand-in command plugin: lifecycle", () => {
  it("create runs the interpreter with the command as one last argument, no shell", async () => {
    const { outs } = await provider.create(URN, { create: "a b; echo c", interpreter: printer() });
    assert.deepEqual(JSON.parse(outs.stdout).argv, ["a b; echo c"]);
  });

  it("the default interpreter is /bin/sh -c", async () => {
    const { outs, id } = await provider.create(URN, { create: "printf '%s\\n' \"$0\"" });
    assert.equal(outs.stdout, "/bin/sh");
    assert.match(id, /^entry[0-9a-f]{8}$/);
  });

  it("update runs update, and create when there is no update", async () => {
    const withUpdate = await provider.update(
      "id",
      URN,
      { create: "echo c" },
      { create: "echo c", update: "echo u" },
    );
    assert.equal(withUpdate.outs.stdout, "u");
    const withoutUpdate = await provider.update("id", URN, { create: "echo c" }, { create: "echo c2" });
    assert.equal(withoutUpdate.outs.stdout, "c2");
  });

  it("update sees the previous stdout in PULUMI_COMMAND_STDOUT unless addPreviousOutputInEnv is false", async () => {
    const olds = { create: "x", stdout: "before", stderr: "" };
    const interpreter = printer("PULUMI_COMMAND_STDOUT");
    const on = await provider.update("id", URN, olds, { create: "x", interpreter });
    assert.equal(JSON.parse(on.outs.stdout).env.PULUMI_COMMAND_STDOUT, "before");
    const off = await provider.update("id", URN, olds, {
      create: "x",
      interpreter,
      addPreviousOutputInEnv: false,
    });
    assert.equal(JSON.parse(off.outs.stdout).env.PULUMI_COMMAND_STDOUT, null);
  });

  it("environment reaches the process, secrets revealed to it and kept secret in the outputs", async () => {
    const { outs } = await provider.create(URN, {
      create: "x",
      interpreter: printer("TOKEN"),
      environment: { TOKEN: secret("s3cret") },
    });
    assert.equal(
      outs.stdout[SIG],
      "1b47061264138c4ac30d75fd1eb44270",
      "stdout must be secret when an input is",
    );
    assert.equal(JSON.parse(reveal(outs.stdout) as string).env.TOKEN, "s3cret");
    assert.deepEqual(outs.environment, { TOKEN: secret("s3cret") });
  });

  it("delete runs the old state's delete with the old state's environment and previous output", async () => {
    const marker = `/tmp/spire-mesh-delete-${process.pid}`;
    await provider.delete("id", URN, {
      create: "x",
      delete: `printf '%s %s' "$WHO" "$PULUMI_COMMAND_STDOUT" > ${marker}`,
      environment: { WHO: "old" },
      stdout: "created",
    });
    const fs = await import("node:fs");
    assert.equal(fs.readFileSync(marker, "utf8"), "old created");
    fs.rmSync(marker);
  });

  // What a process reads: `stdin` itself, byte for byte, or nothing (an empty stdin is none, as in the plugin).
  const stdinReader = [process.execPath, "-e", 'process.stdout.write(require("fs").readFileSync(0, "utf8"))'];

  it("stdin reaches create and update as given, the new inputs' one; large ones whole", async () => {
    const large = `${"x".repeat(300 * 1024)}\nend`;
    const created = await provider.create(URN, { create: "c", interpreter: stdinReader, stdin: large });
    assert.equal(created.outs.stdout, large);
    const updated = await provider.update(
      "id",
      URN,
      { create: "c", interpreter: stdinReader, stdin: "old", stdout: "old" },
      { create: "c", interpreter: stdinReader, stdin: "new" },
    );
    assert.equal(updated.outs.stdout, "new");
    const none = await provider.create(URN, { create: "c", interpreter: stdinReader, stdin: "" });
    assert.equal(none.outs.stdout, "", "an empty stdin: the process reads /dev/null");
  });

  it("delete feeds the old state's stdin", async () => {
    const marker = `/tmp/spire-mesh-stdin-${process.pid}`;
    await provider.delete("id", URN, {
      create: "x",
      delete: `cat > ${marker}`,
      stdin: "the plan that was applied",
    });
    const fs = await import("node:fs");
    assert.equal(fs.readFileSync(marker, "utf8"), "the plan that was applied");
    fs.rmSync(marker);
  });

  it("a process that exits 0 without reading a large stdin succeeds (the broken pipe is not the step's error)", async () => {
    const { outs } = await provider.create(URN, { create: "echo done", stdin: "y".repeat(1024 * 1024) });
    assert.equal(outs.stdout, "done");
  });

  it("a non-zero exit fails the step with the real provider's message and the combined output", async () => {
    await assert.rejects(provider.create(URN, { create: "echo out; echo err >&2; exit 3" }), {
      message: 'exit status 3: running "echo out; echo err >&2; exit 3":\nout\nerr\n',
    });
  });

  it("a missing command is a successful no-op, and stdout loses one trailing newline", async () => {
    assert.deepEqual((await provider.create(URN, { delete: "true" })).outs, {
      delete: "true",
      stdout: "",
      stderr: "",
    });
    assert.equal((await provider.create(URN, { create: "printf 'a\\n\\n'" })).outs.stdout, "a\n");
  });

  it("read returns the state unchanged, so refresh never reports drift", async () => {
    const state = { create: "x", stdout: "s", stderr: "" };
    assert.deepEqual(await provider.read("id", URN, state), {
      id: "id",
      props: state,
      inputs: { create: "x" },
    });
  });
});

describe("stand-in command plugin: the command:local:run invoke", () => {
  it("runs interpreter plus command as one last argument with the environment, and returns the arguments, stdout and stderr", async () => {
    const args = {
      command: "a b; echo c",
      interpreter: printer("WHO"),
      environment: { WHO: "run" },
      logging: "none",
    };
    const { outputs, failures } = await invokeRun(RUN_TOKEN, args);
    assert.equal(failures, undefined);
    assert.deepEqual(JSON.parse(outputs.stdout), { argv: ["a b; echo c"], env: { WHO: "run" } });
    assert.deepEqual({ ...outputs, stdout: undefined }, { ...args, stdout: undefined, stderr: "" });
  });

  it("a non-zero exit rejects with the real provider's message and the combined output", async () => {
    await assert.rejects(
      invokeRun(RUN_TOKEN, { command: "echo out; echo err >&2; exit 3", logging: "none" }),
      {
        message: 'exit status 3: running "echo out; echo err >&2; exit 3":\nout\nerr\n',
      },
    );
  });

  it("refuses, naming them, arguments it does not model: stdin, dir, logging other than none, a missing command", async () => {
    const marker = `/tmp/spire-mesh-run-${process.pid}`;
    const { failures, outputs } = await invokeRun(RUN_TOKEN, {
      stdin: "x",
      dir: "/tmp",
      logging: "stdoutAndStderr",
      interpreter: ["/bin/sh", "-c", `touch ${marker}`],
    });
    assert.equal(outputs, undefined);
    assert.deepEqual(
      failures?.map((f) => f.property),
      ["stdin", "dir", "command", "logging"],
    );
    assert.match(failures?.[3].reason ?? "", /logging = "stdoutAndStderr": .*models only "none"/);
    const fs = await import("node:fs");
    assert.equal(fs.existsSync(marker), false, "a refused invoke runs nothing");
    const noLogging = await invokeRun(RUN_TOKEN, { command: "true" });
    assert.deepEqual(
      noLogging.failures?.map((f) => f.property),
      ["logging"],
      "the real provider logs by default; the stand-in does not model it",
    );
  });

  it("answers no other function", async () => {
    await assert.rejects(
      invokeRun("command:remote:run", { command: "true", logging: "none" }),
      /unknown function command:remote:run/,
    );
  });
});
