/** images-pinned: tags and digests, registry ports, every container list; advisory unless configured. */
import assert from "node:assert/strict";
import { PINNED_IMAGES } from "../../policy/policies";
import { imageParts, pinnedImagesPolicy } from "../../policy/rules/pinnedImages";
import { runResourcePolicy, testResource, UNKNOWN } from "../../policy/testing";

const DESCRIPTION = pinnedImagesPolicy.description;

const deployment = (images: Record<string, string>, init: Record<string, string> = {}) =>
  testResource("kubernetes:apps/v1:Deployment", "front-deployment", {
    metadata: { name: "front", namespace: "shop" },
    spec: {
      template: {
        spec: {
          initContainers: Object.entries(init).map(([name, image]) => ({ name, image })),
          containers: Object.entries(images).map(([name, image]) => ({ name, image })),
        },
      },
    },
  });

describe(`policy ${PINNED_IMAGES}`, () => {
  it("reads tags and digests, not registry ports", () => {
    assert.deepEqual(imageParts("registry.local:5000/envoy"), { tag: undefined, digest: undefined });
    assert.deepEqual(imageParts("registry.local:5000/envoy:v1.34.13"), {
      tag: "v1.34.13",
      digest: undefined,
    });
    assert.deepEqual(imageParts("envoy@sha256:abc"), { tag: undefined, digest: "sha256:abc" });
  });

  it("passes version tags and digests", async () => {
    const pinned = deployment({
      app: "node:20-alpine",
      envoy: "envoyproxy/envoy:v1.34.13",
      agent: "ghcr.io/spiffe/spire-agent@sha256:0123",
    });
    assert.deepEqual(await runResourcePolicy(pinnedImagesPolicy, pinned), []);
  });

  it("reports :latest and untagged images, init containers included, at advisory by default", async () => {
    const floating = deployment(
      { app: "node:latest", envoy: "registry.local:5000/envoy" },
      { setup: "busybox" },
    );
    const violations = await runResourcePolicy(pinnedImagesPolicy, floating);
    assert.deepEqual(
      violations.map((v) => `[${v.level}] ${v.message}`),
      [
        `[advisory] ${DESCRIPTION}\nDeployment shop/front: spec.template.spec.initContainers[0] (setup) image = "busybox" has no tag, so it means latest: pin a version tag or a digest`,
        `[advisory] ${DESCRIPTION}\nDeployment shop/front: spec.template.spec.containers[0] (app) image = "node:latest" uses the latest tag: pin a version tag or a digest`,
        `[advisory] ${DESCRIPTION}\nDeployment shop/front: spec.template.spec.containers[1] (envoy) image = "registry.local:5000/envoy" has no tag, so it means latest: pin a version tag or a digest`,
      ],
    );
  });

  it("with requireDigest, only digests pass; the level can be raised to mandatory", async () => {
    const config = { enforcementLevel: "mandatory" as const, requireDigest: true };
    const violations = await runResourcePolicy(
      pinnedImagesPolicy,
      deployment({ envoy: "envoyproxy/envoy:v1.34.13" }),
      config,
    );
    assert.deepEqual(
      violations.map((v) => `[${v.level}] ${v.message}`),
      [
        `[mandatory] ${DESCRIPTION}\nDeployment shop/front: spec.template.spec.containers[0] (envoy) image = "envoyproxy/envoy:v1.34.13" has no digest: requireDigest accepts only image@sha256:...`,
      ],
    );
    assert.deepEqual(
      await runResourcePolicy(pinnedImagesPolicy, deployment({ envoy: "envoy@sha256:1" }), config),
      [],
    );
  });

  it("skips an image unknown during preview", async () => {
    assert.deepEqual(await runResourcePolicy(pinnedImagesPolicy, deployment({ app: UNKNOWN })), []);
  });
});
