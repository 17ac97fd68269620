/** Constructs components under the recording mock monitor, for tests that need no whole stack program. */
import { SpireInstallation } from "../../components/spireInstallation";
import { type RecordedResource, type Recording, record } from "../../render/runtime";

export const testScope = { project: "spire-mesh", stack: "test" };

/** Runs `build`; a thrown error is returned as the value so tests can also see what got registered before it. */
export function construct(build: () => unknown): Promise<Recording<unknown>> {
  return record(testScope, () => {
    try {
      return build();
    } catch (e) {
      return e;
    }
  });
}

/** The walkthrough's SPIRE, for components that run under an installation (ColorApp, MeshWorkload). */
export const walkthroughInstallation = (name = "spire") =>
  new SpireInstallation(name, { trustDomain: "howto-k8s-mtls-sds-based.aws" });

/** What a test's component registered, without the installation it was given. */
export const outsideInstallation = (resources: readonly RecordedResource[]) =>
  resources.filter((r) => !r.urn.includes("spire-mesh:index:SpireInstallation"));
