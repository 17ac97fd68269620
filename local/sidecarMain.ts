/**
 * Entry point of one sidecar process. It runs as its own workload uid, so the SPIRE agent's unix attestor tells
 * the sidecars apart exactly as the k8s attestor tells pods apart. argv[2]: JSON {bootstrap, placement}.
 */
import { sidecarPlan } from "./bootstrapPlan";
import { type Placement, Sidecar } from "./sidecar";

const { bootstrap, placement } = JSON.parse(process.argv[2] ?? "{}") as {
  bootstrap: unknown;
  placement: Placement;
};
const sidecar = new Sidecar(sidecarPlan(bootstrap), placement, (line) => console.error(line));

// STARTED: the admin interface is up. LIVE: every SDS secret arrived and the listeners are open.
void sidecar.whenLive.then(() => console.log("SIDECAR LIVE"));
sidecar
  .start()
  .then(() => console.log("SIDECAR STARTED"))
  .catch((e: Error) => {
    console.error(`sidecar failed to start: ${e.message}`);
    process.exit(1);
  });

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    sidecar.stop();
    process.exit(0);
  });
}
