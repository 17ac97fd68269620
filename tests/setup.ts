/** Mocha root hooks shared by every suite. */
import { killAll } from "../local/processes";

export const mochaHooks = {
  afterAll(): void {
    killAll();
  },
};
