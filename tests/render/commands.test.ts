/** commands/<name>.txt, what a PR reviewer reads of an entry command: argv and entries, readable. */
import assert from "node:assert/strict";
import { describeCommand } from "../../render/commands";
import type { RecordedResource } from "../../render/runtime";
import { REDACTED } from "../../render/runtime";
import type { DeclaredEntry } from "../../spire/entryDiff";
import { entrySetCommand, entrySetCommands } from "../../spire/entrySet";

const entry = (name: string, extra: Partial<DeclaredEntry> = {}): DeclaredEntry => ({
  entryId: `proj.stack.${name}`,
  spiffeId: `spiffe://example.org/${name}`,
  parentId: "spiffe://example.org/agents",
  selectors: [
    { type: "k8s", value: "ns:shop" },
    { type: "k8s", value: `sa:${name}` },
  ],
  x509SvidTtl: 0,
  dnsNames: [],
  federatesWith: [],
  ...extra,
});

const command = (inputs: Record<string, unknown>): RecordedResource => ({
  type: "command:local:Command",
  name: "entries",
  urn: "urn:pulumi:stack::proj::command:local:Command::entries",
  custom: true,
  dependsOn: [],
  inputs,
});

describe("render: commands/<name>.txt", () => {
  it("lists every entry of an entry set's plan on its own line, with the batch argv", () => {
    const entries = [
      entry("cart", { x509SvidTtl: 600, dnsNames: ["cart.shop"] }),
      entry("pay", { federatesWith: ["east.example"] }),
    ];
    const set = entrySetCommand(entrySetCommands(["spire-server"]), entries);
    const text = describeCommand(command({ ...set, environment: REDACTED }));
    assert.doesNotMatch(text, /\[object Object\]/);
    assert.match(text, /^expect: 2 entries$/m);
    assert.match(
      text,
      /^ {2}- proj\.stack\.cart: spiffe:\/\/example\.org\/cart; parent spiffe:\/\/example\.org\/agents; selectors k8s:ns:shop, k8s:sa:cart; x509 TTL 600s; dns cart\.shop$/m,
    );
    assert.match(
      text,
      /^ {2}- proj\.stack\.pay: .*; x509 TTL server default; federates with east\.example$/m,
    );
    assert.match(text, /^commands\.create: spire-server entry create -data - -output json$/m);
    assert.match(text, /^data: the same 2 entries in spire-server's `entry create -data` form$/m);
    assert.match(text, /^step: delete$/m);
    assert.match(
      text,
      /^environment: \[secret\]$/m,
      "a secret environment is one marker, not its characters",
    );
  });

  it("shows a single entry's expected state and argv, and only the environment's names", () => {
    const plan = {
      step: "create",
      create: ["spire-server", "entry", "create", "-selector", "k8s:sa:it's"],
      expect: entry("cart"),
    };
    const text = describeCommand(
      command({ create: JSON.stringify(plan), environment: { KUBECONFIG: "apiVersion: v1 ..." } }),
    );
    assert.match(text, /^create: spire-server entry create -selector 'k8s:sa:it'\\''s'$/m);
    assert.match(text, /^expect: proj\.stack\.cart: spiffe:\/\/example\.org\/cart; parent /m);
    assert.match(text, /^environment: KUBECONFIG$/m);
    assert.doesNotMatch(text, /apiVersion/);
  });

  it("prints a command that is not a plan as it is", () => {
    const text = describeCommand(command({ create: "echo hi" }));
    assert.match(text, /^## create\necho hi$/m);
    assert.match(text, /^environment: \(none\)$/m);
  });
});
