/**
 * npm run cluster:up [-- --nodes N]   start the loopback control plane (.cache/cluster), or confirm it runs
 * npm run cluster:down [-- --purge]   stop the processes cluster:up started; --purge also deletes its data
 */
import { clusterDown, clusterUp, DEFAULT_CLUSTER_DIR } from "../local/cluster/cluster";

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const flag = (name: string) => rest.includes(name);
  const value = (name: string) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };
  const log = (line: string) => console.log(line);
  if (command === "up") {
    const nodes = Number(value("--nodes") ?? 1);
    if (!Number.isInteger(nodes) || nodes < 1)
      throw new Error(`--nodes must be a positive integer, got ${value("--nodes")}`);
    const state = await clusterUp({ nodes, log });
    console.log(`\nexport KUBECONFIG=${state.kubeconfig}`);
  } else if (command === "down") {
    await clusterDown({ dir: DEFAULT_CLUSTER_DIR, purge: flag("--purge"), log });
  } else {
    throw new Error("usage: ts-node scripts/cluster.ts up [--nodes N] | down [--purge]");
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
