/**
 * What SpireEntrySet and SpireEntry hand their command resource. Linux refuses an exec whose single argument or
 * environment string passes 128 KiB (MAX_ARG_STRLEN, E2BIG): nothing there may grow with the set; the plan goes
 * on stdin. And the stored command must not depend on the directory `pulumi up` ran in, nor on a runner path
 * that a later run (the delete of a stored state) may not find.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SpireEntry, SpireEntrySet, SpireInstallation } from "../../components";
import { ValidationError } from "../../core/validation";
import type { RecordedResource } from "../../render/runtime";
import { construct } from "../support/mocks";

const REPO_ROOT = path.resolve(__dirname, "../..");
const TD = "example.org";
const AGENTS = `spiffe://${TD}/ns/spire/sa/spire-agent`;
const LIMIT = 4 * 1024;

const members = (count: number, name = (i: number) => `svc-${i}`) =>
  Array.from({ length: count }, (_, i) => ({
    name: name(i),
    spiffeId: `spiffe://${TD}/ns/bulk/sa/svc-${i}`,
    parentId: AGENTS,
    selectors: ["k8s:ns:bulk", `k8s:sa:svc-${i}`],
    x509SvidTtl: "10m",
    dnsNames: [`svc-${i}.bulk.svc.cluster.local`],
  }));

const commandOf = (resources: readonly RecordedResource[]) => {
  const found = resources.filter((r) => r.type === "command:local:Command");
  assert.equal(found.length, 1, "one command resource");
  return found[0].inputs as {
    interpreter: string[];
    create: string;
    update: string;
    delete: string;
    stdin?: string;
    environment?: Record<string, string>;
  };
};

/** Every string the command's process gets as an argument or environment value, by where it comes from. */
const argvAndEnvironment = (inputs: ReturnType<typeof commandOf>) => [
  ...inputs.interpreter.map((a, i) => [`interpreter[${i}]`, a] as const),
  ...(["create", "update", "delete"] as const).map((k) => [k, inputs[k]] as const),
  ...Object.entries(inputs.environment ?? {}).map(([k, v]) => [`environment.${k}`, v] as const),
];

describe("SpireEntrySet: the command's argv and environment stay small however large the set", () => {
  it("1000 entries: every argument and environment value is under 4 KiB; the whole plan is on stdin", async () => {
    const { value, resources } = await construct(() => {
      const installation = new SpireInstallation("spire", { trustDomain: TD });
      return new SpireEntrySet("bulk", {
        installation,
        entries: members(1000),
        reassertOn: "2026-12-07",
        environment: { KUBECONFIG: "/home/ci/.kube/config" },
      });
    });
    assert.ok(value instanceof SpireEntrySet, String(value));
    const inputs = commandOf(resources);
    const sizes = argvAndEnvironment(inputs).map(([where, v]) => [where, Buffer.byteLength(v)] as const);
    assert.ok(sizes.length >= 7, `argv and environment: ${sizes.map(([w]) => w).join(", ")}`);
    assert.deepEqual(
      sizes.filter(([, size]) => size >= LIMIT),
      [],
    );
    // The witness that the set is large: the plan the runner gets holds all 1000 entries, far past 128 KiB.
    const plan = JSON.parse(inputs.stdin ?? "{}");
    assert.equal(plan.expect.length, 1000);
    assert.ok(Buffer.byteLength(inputs.stdin ?? "") > 128 * 1024, "the plan passes Linux's argument limit");
    assert.deepEqual(JSON.parse(inputs.update), {
      step: "update",
      planSha256: JSON.parse(inputs.create).planSha256,
    });
  });

  it("refuses a set whose entry IDs would outgrow the variable that carries them to the next run", async () => {
    const { value, resources } = await construct(
      () =>
        new SpireEntrySet("huge", {
          trustDomain: TD,
          serverExecPrefix: ["spire-server"],
          entries: members(400, (i) => `${"long-service-name-".repeat(10)}${i}`),
        }),
    );
    assert.ok(value instanceof ValidationError, String(value));
    assert.match(
      value.message,
      /entries = "400 entries whose IDs take \d+ bytes": the IDs of one set may take at most 65536 bytes: .*PULUMI_COMMAND_STDOUT.*split the entries into several sets/,
    );
    assert.equal(resources.filter((r) => r.type === "command:local:Command").length, 0);
  });
});

describe("SpireEntry and SpireEntrySet: the stored command does not depend on the working directory", () => {
  const programs = {
    SpireEntry: () =>
      new SpireEntry("web", {
        trustDomain: TD,
        serverExecPrefix: [FAKE_SERVER],
        spiffeId: `spiffe://${TD}/web`,
        parentId: AGENTS,
        selectors: ["k8s:ns:web", "k8s:sa:web"],
      }),
    SpireEntrySet: () =>
      new SpireEntrySet("bulk", { trustDomain: TD, serverExecPrefix: [FAKE_SERVER], entries: members(3) }),
  };
  let FAKE_SERVER: string;
  let dir: string;
  const cwd = process.cwd();

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "runner-cwd-"));
    // A spire-server that answers every batch call with OK results, one per entry it was given.
    FAKE_SERVER = path.join(dir, "spire-server");
    fs.writeFileSync(
      FAKE_SERVER,
      `#!${process.execPath}
const input = process.argv.includes("-") ? JSON.parse(require("fs").readFileSync(0, "utf8")) : { ids: [1] };
const results = (input.ids ?? input.entries).map(() => ({ status: { code: 0 } }));
process.stdout.write(JSON.stringify({ results }));
`,
      { mode: 0o755 },
    );
  });
  after(() => {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function renderFrom(where: string, program: () => unknown) {
    process.chdir(where);
    try {
      return commandOf((await construct(program)).resources);
    } finally {
      process.chdir(cwd);
    }
  }

  for (const [kind, program] of Object.entries(programs)) {
    it(`${kind}: rendering from the repository and from another directory gives the same command`, async () => {
      const fromRepo = await renderFrom(REPO_ROOT, program);
      const fromElsewhere = await renderFrom(dir, program);
      assert.deepEqual(fromElsewhere, fromRepo);
      assert.ok(
        !fromRepo.interpreter.some((a) => a.includes(REPO_ROOT) || a.includes("bin/")),
        `no path of this machine in the interpreter: ${fromRepo.interpreter.join(" ")}`,
      );
    });

    it(`${kind}: the stored delete runs from a project directory other than the one it was rendered in`, async () => {
      const stored = await renderFrom(REPO_ROOT, program);
      const project = path.join(REPO_ROOT, "tests", "fixtures", "entry-set-project");
      const [file, ...args] = stored.interpreter;
      const r = spawnSync(file, [...args, stored.delete], {
        cwd: project,
        input: stored.stdin ?? "",
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.ok(out.outcome === "deleted" || out.deleted === 3, r.stdout);
    });
  }

  it("outside any project holding spire-mesh, the command fails saying what it could not find", async () => {
    const stored = await renderFrom(REPO_ROOT, programs.SpireEntry);
    const [file, ...args] = stored.interpreter;
    const r = spawnSync(file, [...args, stored.delete], { cwd: dir, encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /spire-mesh: cannot find the spire-mesh package from .* to run spire-entry\.js/);
  });
});
