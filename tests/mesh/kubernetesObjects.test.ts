/**
 * Every Kubernetes object the dev stack renders against the real Kubernetes schema (OpenAPI and the API server's
 * strict decoding). The only objects that check cannot cover are the App Mesh custom resources, which
 * appmeshSchema.test.ts checks against the CRD instead.
 */
import assert from "node:assert/strict";
import { isAppMeshObject } from "../support/appmeshSchema";
import { kubernetesSchemaCoverage, validateKubernetesObjects } from "../support/kubernetesSchema";
import { appMesh, kubernetesObjects, renderStack } from "../support/render";

/** The walkthrough's App Mesh objects (fact sheet 3.2), as `<kind>/<name>`. */
const walkthroughAppMeshObjects = [
  "Mesh/howto-k8s-mtls-sds-based",
  "VirtualNode/blue",
  "VirtualNode/front",
  "VirtualNode/green",
  "VirtualNode/red",
  "VirtualRouter/color",
  "VirtualService/color",
];

for (const [title, overrides] of [
  ["dev stack (green unregistered)", {}],
  ["dev stack with registerGreen=true", { registerGreen: "true" }],
] as const) {
  describe(`Kubernetes objects of the ${title}`, () => {
    it("all pass the Kubernetes schema checks", async () => {
      const objects = kubernetesObjects(await renderStack("dev", { ...appMesh, ...overrides }));
      // The SPIRE install alone is a dozen objects; an empty render would pass vacuously.
      assert.ok(objects.length > 20, `only ${objects.length} objects rendered`);
      validateKubernetesObjects(objects);
    });

    it("the custom resources it skips are exactly the App Mesh objects, and it checks all the rest", async () => {
      const objects = kubernetesObjects(await renderStack("dev", { ...appMesh, ...overrides }));
      const coverage = kubernetesSchemaCoverage(objects);
      assert.deepEqual([...coverage.customResources].sort(), walkthroughAppMeshObjects);
      const appMeshObjects = objects.filter(isAppMeshObject).map((o) => `${o.kind}/${o.metadata.name}`);
      assert.deepEqual(appMeshObjects.sort(), walkthroughAppMeshObjects);
      assert.equal(coverage.checked.length, objects.length - walkthroughAppMeshObjects.length);
      for (const kind of ["Namespace", "Deployment", "Service", "ConfigMap"]) {
        assert.ok(
          coverage.checked.some((label) => label.startsWith(`${kind}/`)),
          `${kind} objects must be checked`,
        );
      }
    });
  });
}
