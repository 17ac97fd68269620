/**
 * The image rule (core/images.ts): which references it takes, and that every builder with an image field
 * reports a bad one with that one rule, at its own field.
 */
import assert from "node:assert/strict";
import { checkImage, IMAGE_RULE, isImageRef } from "../../core/images";
import { Checker, ValidationError } from "../../core/validation";
import { colorAppSpec } from "../../mesh/colorApp";
import { gatewaySpec } from "../../mesh/gateway";
import { meshNodePlan } from "../../mesh/meshNode";
import { spireSettings } from "../../spire/settings";

const TD = "example.org";
const node = {
  name: "ledger",
  namespace: "shop",
  podSelector: { app: "ledger" },
  trustDomain: TD,
  identity: `spiffe://${TD}/ledger`,
};
const gateway = {
  name: "edge",
  namespace: "shop",
  trustDomain: TD,
  identity: `spiffe://${TD}/edge`,
  backends: [
    {
      virtualService: "ledger",
      hostname: "ledger.shop.svc.cluster.local",
      routes: [{ name: "all", target: node }],
    },
  ],
  routes: [{ prefix: "/ledger", virtualService: "ledger" }],
};

/** The problems `build` throws, as `field: rule`. */
function problemsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.problems.map((p) => `${p.field}: ${p.rule}`);
  }
  assert.fail("expected a ValidationError");
}

describe("image rule", () => {
  it("takes a name, a registry with port, a tag and a digest", () => {
    for (const ref of [
      "node:20-alpine",
      "ghcr.io/spiffe/spire-server:1.13.3",
      "localhost:5000/app",
      `envoyproxy/envoy:v1.31.0@sha256:${"a".repeat(64)}`,
    ])
      assert.ok(isImageRef(ref), ref);
  });

  it("refuses spaces, uppercase paths, an empty tag, a short digest, a non-string", () => {
    for (const ref of ["node 20", "Repo/App:1", "app:", "app@sha256:abc", "", 42, undefined])
      assert.equal(isImageRef(ref), false, String(ref));
  });

  it("checkImage records the rule at the field", () => {
    const c = new Checker("t");
    assert.equal(checkImage(c, "x.image", "node 20"), false);
    assert.throws(() => c.done(), /x\.image = "node 20": must be an image reference/);
  });

  it("every builder's image field reports the one rule", () => {
    const bad = "node 20";
    assert.deepEqual(
      problemsOf(() => spireSettings({ trustDomain: TD, agentImage: bad })),
      [`agentImage: ${IMAGE_RULE}`],
    );
    assert.deepEqual(
      problemsOf(() => meshNodePlan({ ...node, envoyImage: bad })),
      [`envoyImage: ${IMAGE_RULE}`],
    );
    assert.deepEqual(
      problemsOf(() => gatewaySpec({ ...gateway, envoyImage: bad })),
      [`envoyImage: ${IMAGE_RULE}`],
    );
    assert.deepEqual(
      problemsOf(() => colorAppSpec({ frontImage: bad })),
      [`frontImage: ${IMAGE_RULE}`],
    );
  });
});
