/**
 * identities-registered on stacks shaped like the walkthrough's: the components' outputs, as the engine hands
 * them to stack policies, including the component types that are still to come (SpireEntrySet, MeshWorkload,
 * MtlsVirtualGateway).
 */
import assert from "node:assert/strict";
import { IDENTITIES_REGISTERED } from "../../policy/policies";
import { identitiesRegisteredPolicy } from "../../policy/rules/identitiesRegistered";
import { runStackPolicy, type TestResource, testResource, UNKNOWN } from "../../policy/testing";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const DESCRIPTION = identitiesRegisteredPolicy.description;
const HOW = "register it with a SpireEntry or SpireEntrySet, or list it in external";

const colorApp = testResource("spire-mesh:index:ColorApp", "colorapp", {});
const entry = (name: string, spiffeId = `${TD}/${name}`) =>
  testResource("spire-mesh:index:SpireEntry", name, {
    declaredSpiffeId: spiffeId,
    entryId: `spire-mesh.dev.${name}`,
  });
const virtualNode = (
  name: string,
  outputs: { identity?: string; allowedCallers?: string[]; allowedServers?: string[] },
  parent: TestResource = colorApp,
) =>
  testResource(
    "spire-mesh:index:MtlsVirtualNode",
    `colorapp-${name}`,
    { nodeName: name, allowedCallers: [], allowedServers: [], ...outputs },
    { parent },
  );

/** The walkthrough: front calls blue, green and red; green has no entry until registerGreen. */
const walkthrough = (registerGreen: boolean) => [
  entry("front"),
  entry("colorblue"),
  entry("colorred"),
  ...(registerGreen ? [entry("colorgreen")] : []),
  colorApp,
  virtualNode("front", {
    identity: `${TD}/front`,
    allowedServers: [`${TD}/colorblue`, `${TD}/colorgreen`, `${TD}/colorred`],
  }),
  ...["blue", "green", "red"].map((c) =>
    virtualNode(c, { identity: `${TD}/color${c}`, allowedCallers: [`${TD}/front`] }),
  ),
];

const shown = async (...args: Parameters<typeof runStackPolicy>) =>
  (await runStackPolicy(...args)).map((v) => ({ level: v.level, message: v.message, urn: v.urn }));

describe(`policy ${IDENTITIES_REGISTERED}`, () => {
  it("passes the walkthrough once green is registered", async () => {
    assert.deepEqual(await runStackPolicy(identitiesRegisteredPolicy, walkthrough(true)), []);
  });

  it("fails without green's entry, naming the node and the identity, on the node's URN", async () => {
    const urn = (node: string) =>
      `urn:pulumi:dev::spire-mesh::spire-mesh:index:ColorApp$spire-mesh:index:MtlsVirtualNode::colorapp-${node}`;
    assert.deepEqual(await shown(identitiesRegisteredPolicy, walkthrough(false)), [
      {
        level: "mandatory",
        message: `${DESCRIPTION}\nMtlsVirtualNode front: allowed server ${TD}/colorgreen has no SPIRE entry in this stack: ${HOW}`,
        urn: urn("front"),
      },
      {
        level: "mandatory",
        message: `${DESCRIPTION}\nMtlsVirtualNode green: identity ${TD}/colorgreen has no SPIRE entry in this stack: ${HOW}`,
        urn: urn("green"),
      },
    ]);
  });

  it("judges a preview of new entries by their declared IDs: registered spiffeId and entryId are unknown there", async () => {
    const previewed = walkthrough(false).map((r) =>
      r.type === "spire-mesh:index:SpireEntry"
        ? testResource(r.type, r.name, { ...r.props, spiffeId: UNKNOWN, entryId: UNKNOWN })
        : r,
    );
    const messages = (await shown(identitiesRegisteredPolicy, previewed)).map((v) => v.message);
    assert.equal(messages.length, 2, messages.join("\n"));
    assert.ok(messages.every((m) => m.includes(`${TD}/colorgreen has no SPIRE entry`)));
  });

  it("accepts identities listed in external, exactly or by a /* prefix", async () => {
    assert.deepEqual(
      await runStackPolicy(identitiesRegisteredPolicy, walkthrough(false), {
        external: [`${TD}/colorgreen`],
      }),
      [],
    );
    const federated = [
      ...walkthrough(true),
      virtualNode("pay", {
        identity: `${TD}/pay`,
        allowedCallers: ["spiffe://partner.example/ns/shop/sa/checkout"],
      }),
      entry("pay"),
    ];
    assert.deepEqual(
      await runStackPolicy(identitiesRegisteredPolicy, federated, {
        external: ["spiffe://partner.example/*"],
      }),
      [],
    );
    assert.deepEqual(
      (await shown(identitiesRegisteredPolicy, federated)).map((v) => v.message.split("\n")[1]),
      [
        `MtlsVirtualNode pay: allowed caller spiffe://partner.example/ns/shop/sa/checkout has no SPIRE entry in this stack: ${HOW}`,
      ],
    );
  });

  it("counts the members of a SpireEntrySet as registered", async () => {
    const set = testResource("spire-mesh:index:SpireEntrySet", "colors", {
      declaredSpiffeIds: [`${TD}/front`, `${TD}/colorblue`, `${TD}/colorgreen`, `${TD}/colorred`],
    });
    const resources = walkthrough(false).filter((r) => r.type !== "spire-mesh:index:SpireEntry");
    assert.deepEqual(await runStackPolicy(identitiesRegisteredPolicy, [set, ...resources]), []);
  });

  it("checks MeshWorkload and MtlsVirtualGateway identities, reports a workload's node once, ignores other types", async () => {
    const workload = testResource("spire-mesh:index:MeshWorkload", "ledger", { identity: `${TD}/ledger` });
    const gateway = testResource("spire-mesh:index:MtlsVirtualGateway", "edge", {
      identity: `${TD}/edge`,
      allowedServers: [`${TD}/front`],
    });
    const lone = testResource("spire-mesh:index:MeshWorkload", "audit", { identity: `${TD}/audit` });
    const unknownType = testResource("spire-mesh:index:SomethingNew", "x", { identity: `${TD}/nobody` });
    const resources = [
      ...walkthrough(true),
      workload,
      virtualNode("ledger", { identity: `${TD}/ledger` }, workload),
      gateway,
      lone,
      unknownType,
    ];
    assert.deepEqual(
      (await shown(identitiesRegisteredPolicy, resources)).map((v) => v.message.split("\n")[1]),
      [
        `MtlsVirtualNode ledger: identity ${TD}/ledger has no SPIRE entry in this stack: ${HOW}`,
        `MtlsVirtualGateway edge: identity ${TD}/edge has no SPIRE entry in this stack: ${HOW}`,
        `MeshWorkload audit: identity ${TD}/audit has no SPIRE entry in this stack: ${HOW}`,
      ],
    );
  });

  it("gives no verdict while an entry's ID is unknown, and skips unknown identities", async () => {
    const pending = [...walkthrough(false), entry("late", UNKNOWN)];
    assert.deepEqual(await runStackPolicy(identitiesRegisteredPolicy, pending), []);
    const unknownNode = [
      ...walkthrough(true),
      virtualNode("later", { identity: UNKNOWN, allowedCallers: [UNKNOWN] }),
    ];
    assert.deepEqual(await runStackPolicy(identitiesRegisteredPolicy, unknownNode), []);
  });

  it("can be made advisory through config", async () => {
    const violations = await runStackPolicy(identitiesRegisteredPolicy, walkthrough(false), {
      enforcementLevel: "advisory",
    });
    assert.deepEqual(
      violations.map((v) => v.level),
      ["advisory", "advisory"],
    );
  });
});
