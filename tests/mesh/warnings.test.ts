/**
 * The walkthrough leaves green unregistered on purpose and shows mTLS to it failing at runtime (fact sheet 2,
 * mode `registerGreen`; 3.4). The stack says so at preview instead: a warning on every node whose own or
 * peer identity has no SPIRE entry, and none once green is registered.
 */
import assert from "node:assert/strict";
import { ColorApp } from "../../components/colorApp";
import { construct, walkthroughInstallation } from "../support/mocks";
import { appMesh, renderStack } from "../support/render";

const GREEN_ID = "spiffe://howto-k8s-mtls-sds-based.aws/colorgreen";
const FRONT_ID = "spiffe://howto-k8s-mtls-sds-based.aws/front";

/** Warnings about virtual nodes, keyed by the node they name. */
function nodeWarnings(warnings: readonly string[]): Map<string, string[]> {
  const byNode = new Map<string, string[]>();
  for (const warning of warnings) {
    const node = /^virtual node ([a-z0-9-]+):/.exec(warning)?.[1];
    if (node) byNode.set(node, [...(byNode.get(node) ?? []), warning]);
  }
  return byNode;
}

const saysMtlsFailsUntilRegistered = /mTLS\b.*\bwill fail until it is registered/;

describe("warnings about unregistered identities", () => {
  describe("dev stack (registerGreen false)", () => {
    it("warns for exactly front and green, once each", async () => {
      const r = await renderStack("dev", appMesh);
      const byNode = nodeWarnings(r.warnings);
      assert.deepEqual([...byNode.keys()].sort(), ["front", "green"], r.warnings.join("\n"));
      assert.equal(byNode.get("front")?.length, 1);
      assert.equal(byNode.get("green")?.length, 1);
    });

    it("front: its backend identity colorgreen has no entry, so mTLS from front to green fails", async () => {
      const [warning] = nodeWarnings((await renderStack("dev", appMesh)).warnings).get("front") ?? [];
      assert.ok(warning);
      assert.ok(warning.includes(GREEN_ID), warning);
      assert.match(warning, /backend identity/);
      assert.match(warning, saysMtlsFailsUntilRegistered);
    });

    it("green: its own identity has no entry, so its sidecar gets no certificate", async () => {
      const [warning] = nodeWarnings((await renderStack("dev", appMesh)).warnings).get("green") ?? [];
      assert.ok(warning);
      assert.ok(warning.includes(GREEN_ID), warning);
      assert.match(warning, /its identity/);
      assert.match(warning, /no certificate/);
      assert.match(warning, saysMtlsFailsUntilRegistered);
    });

    it("blue and red, whose identities and whose caller front are registered, do not warn", async () => {
      const byNode = nodeWarnings((await renderStack("dev", appMesh)).warnings);
      assert.equal(byNode.get("blue"), undefined);
      assert.equal(byNode.get("red"), undefined);
    });
  });

  it("registerGreen true: no warnings about identities", async () => {
    const r = await renderStack("dev", { ...appMesh, registerGreen: "true" });
    assert.deepEqual([...nodeWarnings(r.warnings).keys()], []);
    assert.deepEqual(
      r.warnings.filter((w) => /SPIRE entry|will fail/.test(w)),
      [],
    );
  });

  it("a missing caller identity warns on every node it calls (front unregistered)", async () => {
    const { value, warnings } = await construct(
      () => new ColorApp("demo", { installation: walkthroughInstallation(), unregistered: ["front"] }),
    );
    assert.ok(value instanceof ColorApp, String(value));
    const byNode = nodeWarnings(warnings);
    assert.deepEqual([...byNode.keys()].sort(), ["blue", "front", "green", "red"]);
    assert.match(byNode.get("front")?.[0] ?? "", /its identity/);
    for (const color of ["blue", "green", "red"]) {
      const [warning] = byNode.get(color) ?? [];
      assert.ok(warning?.includes(FRONT_ID), color);
      assert.match(warning, /caller identity/);
      assert.match(warning, saysMtlsFailsUntilRegistered);
    }
  });

  it("a ColorApp that registers every workload does not warn", async () => {
    const { value, warnings } = await construct(
      () => new ColorApp("demo", { installation: walkthroughInstallation() }),
    );
    assert.ok(value instanceof ColorApp, String(value));
    assert.deepEqual(warnings, []);
  });
});
