/** The pack's shared helpers: reading props past unknowns, stack names from URNs, globs. */
import assert from "node:assert/strict";
import { globMatch, isUnknown, plain, stackOfUrn } from "../../policy/support";
import { UNKNOWN, unknownCheckingProxy } from "../../policy/testing";

describe("spire-mesh policy pack helpers", () => {
  it("copies props out of the unknown-checking proxy, keeping unknowns as values instead of throwing", () => {
    const props = unknownCheckingProxy({ a: UNKNOWN, b: { c: [1, UNKNOWN, { d: "x" }] } }) as {
      a: string;
      b: { c: unknown[] };
    };
    assert.throws(() => props.a, /string value at \.a can't be known during preview/);
    const copy = plain(props);
    assert.deepEqual(copy, { a: UNKNOWN, b: { c: [1, UNKNOWN, { d: "x" }] } });
    assert.ok(isUnknown(copy.a) && isUnknown(copy.b.c[1]));
    assert.ok(Array.isArray(copy.b.c));
  });

  it("reads the stack from a URN, since getStack() is empty in a pack launched as a binary", () => {
    assert.equal(stackOfUrn("urn:pulumi:prod-eu::spire-mesh::kubernetes:core/v1:ConfigMap::x"), "prod-eu");
    assert.equal(stackOfUrn("not-a-urn"), undefined);
  });

  it("matches stack names with shell globs", () => {
    assert.ok(globMatch("prod*", "prod"));
    assert.ok(globMatch("prod*", "prod-eu.1"));
    assert.ok(!globMatch("prod*", "preprod"));
    assert.ok(globMatch("st?ging", "staging"));
    assert.ok(!globMatch("a.b", "axb"));
  });
});
