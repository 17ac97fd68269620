/**
 * The drift check without a server: which entries are missing, changed (in which field, from what to what) or
 * unexpected under the stack's prefix; the report's exact text; the declared view read from a stack's state
 * (built here from renders of the real stack program, in both registration modes); and the repair's runner calls.
 */
import * as assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type StackView, stackView } from "../../spire/declaredEntries";
import { classifyDrift, type Declared, type Drift, formatDrift, repairCalls } from "../../spire/drift";
import { deriveEntryId, entryIdPrefix } from "../../spire/entries";
import { declaredEntry, ENTRY_FIELDS, type Entry, type EntryField } from "../../spire/entryDiff";
import { renderStack } from "../support/render";

const TD = "spiffe://example.org";
const PREFIX = "spire-mesh.dev.";

const entry = (name: string, over: Partial<Entry> = {}): Entry => ({
  ...declaredEntry({
    entryId: `${PREFIX}${name}`,
    spiffeId: `${TD}/${name}`,
    parentId: `${TD}/agent`,
    selectors: [
      { type: "k8s", value: "ns:app" },
      { type: "k8s", value: `sa:${name}` },
    ],
    x509SvidTtl: 3600,
    dnsNames: [`${name}.app.svc`],
    federatesWith: [],
  }),
  ...over,
});
const declared = (name: string): Declared => ({ entry: entry(name), label: `SpireEntry ${name}` });

/** A value other than the declared one, for each field, and how the report shows the two (server → stack). */
const OTHER: { readonly [F in EntryField]: { over: Partial<Entry>; shown: string } } = {
  spiffe_id: { over: { spiffeId: `${TD}/other` }, shown: `${TD}/other → ${TD}/web` },
  parent_id: { over: { parentId: `${TD}/node` }, shown: `${TD}/node → ${TD}/agent` },
  selectors: {
    over: { selectors: [{ type: "k8s", value: "ns:app" }] },
    shown: "[k8s:ns:app] → [k8s:ns:app, k8s:sa:web]",
  },
  x509_svid_ttl: { over: { x509SvidTtl: 60 }, shown: "60s → 3600s" },
  dns_names: { over: { dnsNames: ["evil.example"] }, shown: "[evil.example] → [web.app.svc]" },
  federates_with: { over: { federatesWith: ["east.example"] }, shown: "[east.example] → []" },
  admin: { over: { admin: true }, shown: "true → false" },
  downstream: { over: { downstream: true }, shown: "true → false" },
  store_svid: { over: { storeSvid: true }, shown: "true → false" },
  expires_at: { over: { expiresAt: 1893456000 }, shown: "1893456000 (2030-01-01T00:00:00.000Z) → 0 (never)" },
  jwt_svid_ttl: { over: { jwtSvidTtl: 300 }, shown: "300s → 0 (server default)" },
  hint: { over: { hint: "planted" }, shown: '"planted" → ""' },
};

/** A view of one server for the report, declaring `names`. */
const viewOf = (names: readonly string[]): StackView => ({
  project: "spire-mesh",
  stack: "dev",
  prefix: PREFIX,
  servers: [
    {
      server: {
        prefix: ["kubectl", "exec", "-i", "-n", "spire", "spire-server-0", "--", "spire-server"],
        access: {},
      },
      show: [],
      resources: names.map((n) => ({
        kind: "SpireEntry" as const,
        label: `SpireEntry ${n}`,
        server: { prefix: [], access: {} },
        entries: [entry(n)],
        update: { runner: "spire-entry.js" as const, argument: `update ${n}`, environment: {} },
      })),
    },
  ],
});

describe("drift: classification", () => {
  it("entries as declared are no drift; each is counted", () => {
    const d = classifyDrift([entry("a"), entry("b")], [declared("a"), declared("b")], PREFIX);
    assert.deepEqual(d, { missing: [], changed: [], unexpected: [], asDeclared: 2 });
  });

  it("a declared entry the server does not hold is missing, named with the resource that declares it", () => {
    const d = classifyDrift([entry("a")], [declared("a"), declared("b")], PREFIX);
    assert.deepEqual(d.missing, [declared("b")]);
    assert.equal(d.asDeclared, 1);
  });

  for (const field of Object.keys(ENTRY_FIELDS) as EntryField[]) {
    it(`${field}: a change in it alone is a changed entry naming exactly that field, server value → declared`, () => {
      const current = entry("web", OTHER[field].over);
      const d = classifyDrift([current, entry("a")], [declared("web"), declared("a")], PREFIX);
      assert.deepEqual(d.changed, [{ ...declared("web"), current, fields: [field] }]);
      assert.deepEqual([d.missing, d.unexpected, d.asDeclared], [[], [], 1]);
      const report = formatDrift(viewOf(["web", "a"]), [d]);
      assert.ok(report.includes(`                ${field}: ${OTHER[field].shown}`), report.join("\n"));
    });
  }

  it("selectors and trust domains compare as sets, DNS names in order; a declared TTL of 0 takes any", () => {
    const web = entry("web", {
      federatesWith: ["a.example", "b.example"],
      dnsNames: ["x.example", "y.example"],
    });
    const reordered = {
      ...web,
      selectors: [...web.selectors].reverse(),
      federatesWith: ["b.example", "a.example"],
    };
    const label = "SpireEntry web";
    assert.equal(classifyDrift([reordered], [{ entry: web, label }], PREFIX).asDeclared, 1);
    const dnsSwapped = { ...web, dnsNames: ["y.example", "x.example"] };
    assert.deepEqual(
      classifyDrift([dnsSwapped], [{ entry: web, label }], PREFIX).changed.map((c) => c.fields),
      [["dns_names"]],
    );
    const serverDefault = { ...web, x509SvidTtl: 0 };
    assert.equal(classifyDrift([web], [{ entry: serverDefault, label }], PREFIX).asDeclared, 1);
  });

  it("an entry under the stack's prefix that nothing declares is unexpected; other stacks' and the server's are not", () => {
    const stray = entry("stray");
    const others = [
      entry("front", { entryId: "spire-mesh.prod.front" }),
      // A prefix of the stack's prefix, without its dot: another stack, "devx".
      entry("front", { entryId: "spire-mesh.devx.front" }),
      entry("front", { entryId: "spire-mesh.dev" }),
      entry("node", { entryId: "5f1c7c1e-9d0b-4a6e-8f57-2d4b1e0c9a11" }),
    ];
    const d = classifyDrift([entry("a"), stray, ...others], [declared("a")], PREFIX);
    assert.deepEqual(d, { missing: [], changed: [], unexpected: [stray], asDeclared: 1 });
  });

  it("the prefix is what every entry ID of the stack starts with, names that are cleaned or hashed included", () => {
    const names = ["front", "a b/c", "x".repeat(300), "ünïcode", "dots.in.name"];
    for (const [project, stack] of [
      ["spire-mesh", "dev"],
      ["my project", "org/prod"],
    ]) {
      const prefix = entryIdPrefix(project, stack);
      for (const name of names) {
        const id = deriveEntryId(project, stack, name);
        assert.ok(id.startsWith(prefix), `${id} starts with ${prefix}`);
      }
      assert.ok(!deriveEntryId(project, `${stack}x`, "front").startsWith(prefix));
    }
    assert.equal(entryIdPrefix("my project", "org/prod"), "my_project.org_prod.");
  });
});

describe("drift: the report", () => {
  it("names each missing, changed (every differing field) and unexpected entry, then counts them", () => {
    const view = viewOf(["blue", "front", "red", "agent"]);
    const drift: Drift = classifyDrift(
      [
        entry("blue", { selectors: [{ type: "k8s", value: "sa:intruder" }] }),
        entry("front", { admin: true, hint: "x" }),
        entry("agent"),
        entry("stray"),
      ],
      ["blue", "front", "red", "agent"].map(declared),
      PREFIX,
    );
    assert.deepEqual(formatDrift(view, [drift]), [
      "spire-mesh/dev: entries under spire-mesh.dev. on kubectl exec -i -n spire spire-server-0 -- spire-server",
      `  missing     spire-mesh.dev.red (${TD}/red), declared by SpireEntry red`,
      `  changed     spire-mesh.dev.blue (${TD}/blue), declared by SpireEntry blue`,
      "                selectors: [k8s:sa:intruder] → [k8s:ns:app, k8s:sa:blue]",
      `  changed     spire-mesh.dev.front (${TD}/front), declared by SpireEntry front`,
      "                admin: true → false",
      '                hint: "x" → ""',
      `  unexpected  spire-mesh.dev.stray (${TD}/stray), declared by no resource of the stack`,
      "spire-mesh/dev: drift: 1 missing, 2 changed, 1 unexpected; 1 of 4 declared entries on 1 server as declared",
    ]);
  });

  it("without drift, one line with how many entries were compared", () => {
    const view = viewOf(["a", "b"]);
    const drift = classifyDrift([entry("a"), entry("b")], [declared("a"), declared("b")], PREFIX);
    assert.deepEqual(formatDrift(view, [drift]), [
      "spire-mesh/dev: no drift: all 2 declared entries on 1 server as declared, none unexpected under spire-mesh.dev.",
    ]);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: exported state is loose JSON.
type Json = any;
const SECRET = "4dabf18193072939515e22adb298388d";
const secret = (value: unknown) => ({
  [SECRET]: "1b47061264138c4ac30d75fd1eb44270",
  plaintext: JSON.stringify(value),
});
const ENVIRONMENT = { KUBECONFIG: "/home/ops/.kube/dev", SPIRE_MESH_SERVER_GENERATION: "g1" };

/** `pulumi stack export --show-secrets` of a rendered stack: its resources, the commands' environment revealed. */
async function exportOf(overrides: Record<string, string>): Promise<Json> {
  const render = await renderStack("dev", overrides);
  return {
    version: 3,
    deployment: {
      resources: [
        {
          urn: "urn:pulumi:dev::spire-mesh::pulumi:pulumi:Stack::spire-mesh-dev",
          type: "pulumi:pulumi:Stack",
        },
        ...render.resources.map((r) => ({
          urn: r.urn,
          type: r.type,
          parent: r.parent,
          inputs:
            r.type === "command:local:Command" ? { ...r.inputs, environment: secret(ENVIRONMENT) } : r.inputs,
          outputs: r.type === "command:local:Command" ? { stdout: secret('{"entryIds":[]}') } : {},
        })),
      ],
    },
  };
}

const DEV_IDS = ["colorblue", "colorred", "front", "spire-agent"].map((n) => `spire-mesh.dev.${n}`);
const SERVER_PREFIX = [
  "kubectl",
  "exec",
  "-i",
  "-n",
  "spire",
  "spire-server-0",
  "-c",
  "spire-server",
  "--",
  "/opt/spire/bin/spire-server",
];

describe("drift: the declared view from the stack's state", function () {
  this.timeout(120_000);

  it("perEntry: each SpireEntry's entry, its update plan and environment, all on one server", async () => {
    const exported = await exportOf({});
    const view = stackView(exported);
    assert.deepEqual([view.project, view.stack, view.prefix], ["spire-mesh", "dev", "spire-mesh.dev."]);
    assert.equal(view.servers.length, 1);
    const [server] = view.servers;
    assert.deepEqual(server.show, [...SERVER_PREFIX, "entry", "show", "-output", "json"]);
    assert.deepEqual(server.server.access, { KUBECONFIG: ENVIRONMENT.KUBECONFIG });
    assert.deepEqual(server.resources.map((r) => r.entries[0].entryId).sort(), DEV_IDS);
    const front = server.resources.find((r) => r.label === "SpireEntry front");
    const command = exported.deployment.resources.find((r: Json) => r.urn.endsWith("::front-entry"));
    assert.deepEqual(front?.update, {
      runner: "spire-entry.js",
      argument: command.inputs.update,
      environment: ENVIRONMENT,
    });
    assert.deepEqual(front?.entries, [declaredEntry(JSON.parse(command.inputs.update).expect)]);
  });

  it("batch: the SpireEntrySet's members, its update step with the plan on stdin and the last run's IDs", async () => {
    const exported = await exportOf({ entryRegistration: "batch" });
    const view = stackView(exported);
    assert.equal(view.servers.length, 1);
    const [set] = view.servers[0].resources;
    assert.equal(set.label, "SpireEntrySet entries");
    assert.deepEqual(set.entries.map((e) => e.entryId).sort(), DEV_IDS);
    const command = exported.deployment.resources.find((r: Json) => r.urn.endsWith("::entries-entries"));
    assert.deepEqual(set.update, {
      runner: "spire-entry-set.js",
      argument: command.inputs.update,
      stdin: command.inputs.stdin,
      environment: { ...ENVIRONMENT, PULUMI_COMMAND_STDOUT: '{"entryIds":[]}' },
    });
  });

  it("commands that reach the server another way are another server; a reassertOn of one entry is not", async () => {
    const exported = await exportOf({});
    const commands = exported.deployment.resources.filter((r: Json) => r.urn.includes("SpireEntry$command"));
    assert.equal(commands.length, 4);
    commands[0].inputs.environment = secret({ ...ENVIRONMENT, SPIRE_MESH_REASSERT_ON: "2026-12-08" });
    assert.equal(stackView(exported).servers.length, 1);
    commands[1].inputs.environment = secret({ ...ENVIRONMENT, KUBECONFIG: "/home/ops/.kube/other" });
    const servers = stackView(exported).servers;
    assert.deepEqual(
      servers.map((s) => [s.server.access.KUBECONFIG, s.resources.length]),
      [
        ["/home/ops/.kube/dev", 3],
        ["/home/ops/.kube/other", 1],
      ],
    );
  });

  it("refuses a state exported without --show-secrets, with operations pending, or with plans it did not build", async () => {
    const encrypted = await exportOf({});
    encrypted.deployment.resources.find((r: Json) => r.urn.endsWith("::front-entry")).inputs.environment = {
      [SECRET]: "1b47061264138c4ac30d75fd1eb44270",
      ciphertext: "v1:abc",
    };
    assert.throws(
      () => stackView(encrypted),
      /environment is encrypted in the exported state: export it with --show-secrets/,
    );

    const pending = await exportOf({});
    pending.deployment.pending_operations = [
      { type: "creating", resource: { urn: "urn:pulumi:dev::spire-mesh::x::y" } },
    ];
    assert.throws(
      () => stackView(pending),
      /left pending \(creating urn:pulumi:dev::spire-mesh::x::y\): recover it first/,
    );

    const edited = await exportOf({});
    const front = edited.deployment.resources.find((r: Json) => r.urn.endsWith("::front-entry"));
    const plan = JSON.parse(front.inputs.update);
    front.inputs.update = JSON.stringify({
      ...plan,
      update: plan.update.filter((a: string) => a !== "-x509SVIDTTL"),
    });
    assert.throws(
      () => stackView(edited),
      /SpireEntry front: its update plan is not what this version of spire-mesh builds/,
    );

    const batch = await exportOf({ entryRegistration: "batch" });
    const set = batch.deployment.resources.find((r: Json) => r.urn.endsWith("::entries-entries"));
    set.inputs.stdin = set.inputs.stdin.replace("spire-mesh.dev.front", "spire-mesh.dev.fronT");
    assert.throws(
      () => stackView(batch),
      /SpireEntrySet entries: its update step \(its plan on stdin, its hash/,
    );
  });
});

describe("drift: the repair's runner calls", () => {
  it("the update step of each drifted resource only, and one batch delete of the unexpected entries", () => {
    const view = viewOf(["blue", "front", "red", "agent"]);
    const drift = classifyDrift(
      [entry("blue", { admin: true }), entry("front"), entry("agent"), entry("stray"), entry("stray2")],
      ["blue", "front", "red", "agent"].map(declared),
      PREFIX,
    );
    const calls = repairCalls(view, [drift]);
    assert.deepEqual(
      calls.map((c) => c.what),
      [
        "SpireEntry blue: its update step",
        "SpireEntry red: its update step",
        "delete 2 unexpected entries (spire-mesh.dev.stray, spire-mesh.dev.stray2)",
      ],
    );
    assert.deepEqual(calls[0].call, view.servers[0].resources[0].update);
    const del = calls[2].call;
    assert.equal(del.runner, "spire-entry-set.js");
    const plan = JSON.parse(del.stdin ?? "");
    assert.deepEqual(plan.ids, ["spire-mesh.dev.stray", "spire-mesh.dev.stray2"]);
    assert.deepEqual(plan.commands.delete, [
      ...view.servers[0].server.prefix,
      "entry",
      "delete",
      "-file",
      "-",
      "-output",
      "json",
    ]);
    assert.deepEqual(JSON.parse(del.argument), {
      step: "delete",
      planSha256: createHash("sha256")
        .update(del.stdin ?? "")
        .digest("hex"),
    });
  });

  it("nothing to call without drift", () => {
    const drift = classifyDrift([entry("a")], [declared("a")], PREFIX);
    assert.deepEqual(repairCalls(viewOf(["a"]), [drift]), []);
  });
});
