/** The host-pods controller daemon (hostPods.ts), started by clusterUp with the cluster directory as argument. */
import { readClusterState } from "./cluster";
import { HostPods } from "./hostPods";

const dir = process.argv[2];
const state = readClusterState(dir);
if (!state) throw new Error(`no cluster state in ${dir}`);
const controller = new HostPods(state);
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    controller.stop().then(() => process.exit(0));
  });
}
controller.run();
