/**
 * SpireEntry's and SpireEntrySet's outputs report what happened: the IDs resolve only once the command has run
 * (a preview of a new entry shows them unknown, as the engine leaves a new resource's ID unknown), and `outcome`
 * carries the runner's report, plain, while the stdout it comes from stays a secret.
 */
import * as assert from "node:assert/strict";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { SpireEntry, SpireEntrySet } from "../../components";

const TD = "example.org";
const AGENTS = `spiffe://${TD}/ns/spire/sa/spire-agent`;
/** The wire form of a secret, as the engine returns a secret output. */
const secretWire = (value: string) => ({
  "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
  value,
});

interface OutputState {
  readonly known: boolean;
  readonly secret: boolean;
  readonly value: unknown;
}

async function stateOf(o: pulumi.Output<unknown>): Promise<OutputState> {
  const internal = o as unknown as { isKnown: Promise<boolean>; promise(): Promise<unknown> };
  const known = await internal.isKnown;
  return { known, secret: await pulumi.isSecret(o), value: known ? await internal.promise() : undefined };
}

/**
 * Constructs under mocks that answer as the engine does: in a preview a new command has no ID and no stdout
 * yet; in an update both are known and the stdout is a secret (the command's environment is one).
 */
async function construct<T>(mode: { preview: boolean; stdout?: string }, build: () => T): Promise<T> {
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type !== "command:local:Command")
          return { id: args.custom ? `${args.name}-id` : "", state: {} };
        if (mode.preview) return { id: "", state: {} };
        return { id: `${args.name}-id`, state: { stdout: secretWire(mode.stdout ?? "") } };
      },
      call: (args) => args.inputs,
    },
    "spire-mesh",
    "test",
    mode.preview,
  );
  // setMocks turns secret support off; on, the secret stdout reaches the program marked as the engine sends it.
  require("@pulumi/pulumi/runtime/state").getStore().supportsSecrets = true;
  return build();
}

const entry = () =>
  new SpireEntry("web", {
    trustDomain: TD,
    serverExecPrefix: ["spire-server"],
    spiffeId: `spiffe://${TD}/web`,
    parentId: AGENTS,
    selectors: ["k8s:ns:web", "k8s:sa:web"],
    environment: { KUBECONFIG: "/home/ci/.kube/config" },
  });
const set = () =>
  new SpireEntrySet("bulk", {
    trustDomain: TD,
    serverExecPrefix: ["spire-server"],
    entries: [0, 1, 2].map((i) => ({
      name: `svc-${i}`,
      spiffeId: `spiffe://${TD}/svc-${i}`,
      parentId: AGENTS,
      selectors: ["k8s:ns:bulk", `k8s:sa:svc-${i}`],
    })),
    environment: { KUBECONFIG: "/home/ci/.kube/config" },
  });

describe("SpireEntry and SpireEntrySet: outputs that wait for the registration", () => {
  it("a preview of a new entry shows its entryId and spiffeId unknown, not a value the server does not hold yet", async () => {
    const e = await construct({ preview: true }, entry);
    assert.deepEqual(await stateOf(e.entryId), { known: false, secret: false, value: undefined });
    assert.deepEqual(await stateOf(e.spiffeId), { known: false, secret: false, value: undefined });
    assert.equal((await stateOf(e.outcome)).known, false);
  });

  it("a preview of a new set shows its entryIds and spiffeIds unknown", async () => {
    const s = await construct({ preview: true }, set);
    assert.equal((await stateOf(s.entryIds)).known, false);
    assert.equal((await stateOf(s.spiffeIds)).known, false);
    assert.equal((await stateOf(s.outcome)).known, false);
  });

  it("after the command ran: the IDs, plain, and the runner's outcome, plain, while its stdout stays secret", async () => {
    const stdout = JSON.stringify({
      entryId: "spire-mesh.test.web",
      outcome: "updated",
      differed: ["admin", "hint"],
    });
    const { e, bare } = await construct({ preview: false, stdout }, () => ({
      e: entry(),
      bare: new command.local.Command("bare", { create: "true" }),
    }));
    // The witness that the outcome's source is secret: a command's stdout, as these mocks return it.
    assert.deepEqual(await stateOf(bare.stdout), { known: true, secret: true, value: stdout });
    assert.deepEqual(await stateOf(e.entryId), { known: true, secret: false, value: "spire-mesh.test.web" });
    assert.deepEqual(await stateOf(e.spiffeId), { known: true, secret: false, value: `spiffe://${TD}/web` });
    assert.deepEqual(await stateOf(e.outcome), {
      known: true,
      secret: false,
      value: { outcome: "updated", differed: ["admin", "hint"] },
    });
  });

  it("the set's outcome holds its counts and per-field counts, not the entries the runner names", async () => {
    const stdout = JSON.stringify({
      entryIds: ["spire-mesh.test.svc-0", "spire-mesh.test.svc-1", "spire-mesh.test.svc-2"],
      created: 1,
      updated: 1,
      deleted: 2,
      unchanged: 1,
      differed: { x509_svid_ttl: { count: 1, entries: [`spiffe://${TD}/svc-1`] } },
    });
    const s = await construct({ preview: false, stdout }, set);
    assert.deepEqual(await stateOf(s.outcome), {
      known: true,
      secret: false,
      value: { created: 1, updated: 1, deleted: 2, unchanged: 1, differed: { x509_svid_ttl: 1 } },
    });
    assert.deepEqual((await stateOf(s.entryIds)).value, [
      "spire-mesh.test.svc-0",
      "spire-mesh.test.svc-1",
      "spire-mesh.test.svc-2",
    ]);
  });

  it("nothing but known words, field names and counts leaves the secret stdout", async () => {
    const planted = "apiVersion: v1\nkind: Config\nusers: [{ user: { token: s3cr3t } }]";
    const stdout = JSON.stringify({ outcome: "updated", differed: ["admin", planted], kubeconfig: planted });
    const e = await construct({ preview: false, stdout }, entry);
    const outcome = await stateOf(e.outcome);
    assert.deepEqual(outcome.value, { outcome: "updated", differed: ["admin"] });
    assert.doesNotMatch(JSON.stringify(outcome.value), /s3cr3t/);
    // Not the runner's report at all (a render's placeholder): no outcome rather than a guess.
    const other = await construct({ preview: false, stdout: planted }, entry);
    assert.deepEqual(await stateOf(other.outcome), { known: true, secret: false, value: undefined });
  });
});
