/**
 * scripts/lib/go-tool.sh as setup uses it: transient registry errors are retried and then named, anything else
 * fails at once, and a build the stamps call done touches no registry (a restored .cache with an empty Go module
 * cache must not need the network).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(__dirname, "../..");
const goTool = path.join(repo, "scripts/lib/go-tool.sh");

function bash(script: string, env: Record<string, string> = {}) {
  return spawnSync("bash", ["-c", script], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, RETRY_BACKOFF_SECONDS: "0", ...env },
  });
}

describe("setup's Go builds (scripts/lib/go-tool.sh)", function () {
  this.timeout(120_000);
  let scratch: string;
  beforeEach(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "go-tool-"));
  });
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  // A command that fails with `message` on its first `failures` runs, counting runs in a file.
  const flaky = (failures: number, message: string) => {
    const counter = path.join(scratch, "runs");
    const script = path.join(scratch, "flaky.sh");
    fs.writeFileSync(
      script,
      `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}\n` +
        `if [ $n -le ${failures} ]; then echo "${message}" >&2; exit 7; fi\necho fine\n`,
    );
    return { script, runs: () => Number(fs.readFileSync(counter, "utf8")) };
  };

  it("retries a transient module-proxy error and succeeds", () => {
    const f = flaky(2, "go: reading https://proxy/x.zip: 503 Service Unavailable");
    const run = bash(`source ${goTool}; log_dir=${scratch}/logs; run_logged test-flaky bash ${f.script}`);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(f.runs(), 3);
    assert.match(run.stderr, /test-flaky: transient registry error \(try 1 of 4\)/);
    assert.match(run.stderr, /test-flaky: transient registry error \(try 2 of 4\)/);
  });

  it("gives up after the last try, naming the command, its tries and its output", () => {
    const f = flaky(99, "dial tcp: i/o timeout");
    const run = bash(`source ${goTool}; log_dir=${scratch}/logs; run_logged test-down bash ${f.script}`, {
      RETRY_ATTEMPTS: "3",
    });
    assert.equal(run.status, 7);
    assert.equal(f.runs(), 3);
    assert.match(run.stderr, /failed \(exit 7, after 3 of 3 tries\)/);
    assert.match(run.stderr, new RegExp(`bash ${f.script}`));
    assert.match(run.stderr, /\| dial tcp: i\/o timeout/);
  });

  it("does not retry a real failure (a compile error)", () => {
    const f = flaky(99, "./main.go:3:1: syntax error: non-declaration statement outside function body");
    const run = bash(`source ${goTool}; log_dir=${scratch}/logs; run_logged test-broken bash ${f.script}`);
    assert.equal(run.status, 7);
    assert.equal(f.runs(), 1);
    assert.match(run.stderr, /after 1 of 4 tries/);
  });

  it("calls a build done only when the stamp matches the module files and flags", () => {
    const module = path.join(scratch, "mod");
    fs.mkdirSync(module);
    fs.writeFileSync(path.join(module, "go.mod"), "module example.com/x\n\ngo 1.26\n");
    const output = path.join(scratch, "bin/x");
    fs.mkdirSync(path.dirname(output));
    fs.writeFileSync(output, "#!/bin/sh\n", { mode: 0o755 });
    const stamp = bash(`source ${goTool}; go_tool_stamp ${module} ./cmd/x 0 -ldflags "-s -w"`);
    assert.equal(stamp.status, 0, stamp.stderr);
    fs.writeFileSync(`${output}.stamp`, stamp.stdout);
    const built = (flags: string) =>
      bash(`source ${goTool}; go_tool_is_built ${module} ${output} ./cmd/x ${flags}`).status;
    assert.equal(built(`-ldflags "-s -w"`), 0);
    assert.equal(built(`-ldflags "-s"`), 1, "other flags are another build");
    fs.appendFileSync(path.join(module, "go.mod"), "require example.com/y v1.0.0\n");
    assert.equal(built(`-ldflags "-s -w"`), 1, "a changed go.mod is another build");
  });

  // Run last in CI after `npm run setup`: every tool is built, so the install scripts must only read stamps.
  it("install-pulumi.sh and install-kubernetes.sh touch no registry when their stamps say built", () => {
    const shim = path.join(scratch, "shim");
    fs.mkdirSync(shim);
    const calls = path.join(scratch, "go-calls");
    const realGo = spawnSync("bash", ["-c", "command -v go"], { encoding: "utf8" }).stdout.trim();
    fs.writeFileSync(path.join(shim, "go"), `#!/bin/sh\necho "$*" >> ${calls}\nexec ${realGo} "$@"\n`, {
      mode: 0o755,
    });
    for (const script of ["install-pulumi.sh", "install-kubernetes.sh"]) {
      const run = bash(`bash scripts/${script}`, { PATH: `${shim}:${process.env.PATH}`, GOPROXY: "off" });
      assert.equal(run.status, 0, `${script} (run npm run setup first):\n${run.stderr}`);
      assert.doesNotMatch(run.stdout, /built in/, `${script} rebuilt something: run npm run setup first`);
    }
    const goCalls = fs.readFileSync(calls, "utf8").trim().split("\n");
    assert.ok(goCalls.length >= 8, `the shim saw the stamp checks: ${goCalls.length} go calls`);
    assert.deepEqual(
      goCalls.filter((c) => !/^env GOVERSION$/.test(c)),
      [],
      "only `go env GOVERSION` (the stamps) may run",
    );
  });
});
