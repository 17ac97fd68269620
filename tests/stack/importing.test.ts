/** The package as other stacks use it: importing creates nothing; the example consumer renders. */
import assert from "node:assert/strict";
import * as path from "node:path";
import { record } from "../../render/runtime";
import { testScope } from "../support/mocks";
import { renderStack } from "../support/render";

const repo = path.resolve(__dirname, "../..");

describe("importing spire-mesh", () => {
  it("exports the components, and importing the built package registers no resource", async () => {
    const { resources, value } = await record(testScope, () => {
      const entry = require.resolve("spire-mesh", { paths: [repo] });
      delete require.cache[entry];
      return require(entry) as Record<string, unknown>;
    });
    assert.deepEqual(resources, []);
    for (const name of ["SpireInstallation", "SpireEntry", "MtlsVirtualNode", "ColorApp", "TlsMode"]) {
      assert.ok(name in value, `exports ${name}`);
    }
  });

  it("package.json points main, types and exports at the build", () => {
    const pkg = require(path.join(repo, "package.json"));
    assert.equal(pkg.name, "spire-mesh");
    assert.equal(require.resolve("spire-mesh", { paths: [repo] }), path.join(repo, pkg.main));
    assert.equal(pkg.exports["."].types, `./${pkg.types}`);
  });

  it("the example consumer stack imports the package and adds its own ledger service", async () => {
    const r = await renderStack("dev", {}, path.join(repo, "examples/consumer"));
    const types = r.resources.map((x) => `${x.type} ${x.name}`);
    for (const expected of [
      "spire-mesh:index:SpireInstallation spire",
      "spire-mesh:index:ColorApp demo",
      "spire-mesh:index:MtlsVirtualNode ledger",
      "spire-mesh:index:SpireEntry ledger",
    ]) {
      assert.ok(types.includes(expected), expected);
    }
    assert.equal(r.outputs.ledgerIdentity, "spiffe://example.org/ledger");
    assert.deepEqual(r.outputs.ledgerCallers, ["spiffe://example.org/front"]);
    assert.deepEqual(r.warnings, [], "every identity the consumer uses is registered");
  });
});
