/** Mocha root hooks shared by every suite. */
import { killAll } from "./support/processes";

export const mochaHooks = {
  afterAll(): void {
    killAll();
  },
};
