/**
 * The SPIRE commands' environment may carry a kubeconfig's contents (SPIRE_MESH_KUBECONFIG): the components store
 * it as a secret whatever the caller passed, so it never reaches the state in clear text. The recorder writes a
 * secret input as "[secret]" (render/runtime.ts), as the engine's state encryption would hide it.
 */
import assert from "node:assert/strict";
import { SpireEntry, SpireEntrySet, SpireInstallation } from "../../components";
import { REDACTED } from "../../render/runtime";
import { construct } from "../support/mocks";

const KUBECONFIG = "apiVersion: v1\nusers: [{name: admin, user: {token: plain-t0ken}}]\n";
const environment = { SPIRE_MESH_KUBECONFIG: KUBECONFIG };
const peer = {
  trustDomain: "east.example",
  bundleEndpointUrl: "https://east.example.net:8443",
  endpointSpiffeId: "spiffe://east.example/spire/server",
  bundle: JSON.stringify({
    keys: [{ use: "x509-svid", kty: "EC", crv: "P-256", x: "AA", y: "AA", x5c: ["AA"] }],
  }),
};

describe("command environments are secret", () => {
  it("SpireInstallation's bundle commands and SpireEntry/SpireEntrySet's entry commands store it as a secret", async () => {
    const { value, resources } = await construct(() => {
      const spire = new SpireInstallation("spire", {
        trustDomain: "west.example",
        federation: { federatesWith: [peer] },
        commandEnvironment: environment,
      });
      const entry = {
        spiffeId: "spiffe://west.example/ns/a/sa/b",
        parentId: spire.nodeAlias.spiffeId,
        selectors: ["k8s:ns:a", "k8s:sa:b"],
      };
      new SpireEntry("one", { installation: spire, environment, ...entry });
      // Without an installation: no generation is merged in, the caller's map is stored as it comes.
      new SpireEntry("bare", {
        serverExecPrefix: ["spire-server"],
        trustDomain: "west.example",
        environment,
        ...entry,
        parentId: "spiffe://west.example/agent",
      });
      new SpireEntrySet("set", { installation: spire, environment, entries: [{ name: "b", ...entry }] });
      return undefined;
    });
    assert.equal(value, undefined, String(value));
    const commands = resources.filter((r) => r.type === "command:local:Command");
    assert.deepEqual(
      commands.map((c) => c.name).sort(),
      ["bare-entry", "one-entry", "set-entries", "spire-federation-east-example"].sort(),
    );
    for (const c of commands) {
      assert.equal(c.inputs.environment, REDACTED, `${c.name} stores its environment as a secret`);
      assert.doesNotMatch(JSON.stringify(c.inputs), /plain-t0ken/, c.name);
    }
  });
});
