/** Constructs components under the recording mock monitor, for tests that need no whole stack program. */
import { type Recording, record } from "../../render/runtime";

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
