/**
 * npm run bench:federation — how long a rotated CA root of one trust domain takes to reach its federated peer.
 * Two real spire-server 1.13.3 on loopback (local/spireHarness.ts) federate with each other over https_spiffe
 * with the config our builders render (refresh_hint 1m), after a first-contact `bundle set` through the same
 * plans SpireInstallation's commands run. East's CA lives 90 s, so it prepares its next CA (a new root in its
 * bundle) about 45 s after start. Measured: from the new root appearing in east's bundle to it appearing in
 * west's copy of east's bundle (`bundle list -id spiffe://east.example`), polled every 250 ms. Median of RUNS.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "../local/ports";
import { type SpireHarness, startSpire } from "../local/spireHarness";
import { bundleCommands, bundlePlans } from "../spire/bundles";
import { describeMachine, fixed, median, table, writeSection } from "./machine";

const RUNS = Number(process.env.RUNS ?? 3);
const RUNNER = path.resolve(__dirname, "..", "bin", "spire-bundle.js");
const certs = (text: string) => (text.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;

function runPlan(plan: string): string {
  const r = spawnSync(process.execPath, [RUNNER, plan], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

async function once(): Promise<number> {
  const [eastPort, westPort] = [await freePort(), await freePort()];
  const federation = (own: number, peer: string, peerPort: number) => ({
    bundleEndpoint: { port: own, refreshHint: "1m" },
    federatesWith: [
      {
        trustDomain: peer,
        bundleEndpointUrl: `https://127.0.0.1:${peerPort}`,
        endpointSpiffeId: `spiffe://${peer}/spire/server`,
      },
    ],
  });
  const spires: SpireHarness[] = [];
  try {
    const east = await startSpire({
      settings: {
        trustDomain: "east.example",
        caTtl: "90s",
        x509SvidTtl: "15s",
        federation: federation(eastPort, "west.example", westPort),
      },
    });
    spires.push(east);
    const west = await startSpire({
      settings: { trustDomain: "west.example", federation: federation(westPort, "east.example", eastPort) },
    });
    spires.push(west);
    const plans = (s: SpireHarness) => bundlePlans(bundleCommands([s.serverBin], s.serverSocket));
    runPlan(plans(west).set("east.example", runPlan(plans(east).show)).create);
    const eastRoots = () => certs(east.server(["bundle", "show", "-format", "pem"]).stdout);
    const westCopy = () =>
      certs(west.server(["bundle", "list", "-id", "spiffe://east.example", "-format", "pem"]).stdout);
    const before = eastRoots();
    while (eastRoots() <= before) await delay(250);
    const t0 = Date.now();
    while (westCopy() <= before) await delay(250);
    return (Date.now() - t0) / 1000;
  } finally {
    for (const s of spires) await s.stop();
  }
}

async function main() {
  const header = describeMachine();
  const runs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await once());
    console.log(`run ${i + 1}: ${fixed(runs[i], 1)} s`);
  }
  const body = [
    header,
    "",
    "Two real spire-server 1.13.3 on loopback federated over https_spiffe (refresh_hint 1m, bootstrapped with " +
      "`bundle set` through SpireInstallation's plans); east's ca_ttl 90s. Time from east's next CA root " +
      "appearing in east's bundle to it appearing in west's copy of east's bundle.",
    "",
    table(
      ["runs", "each (s)", "median (s)", "max (s)"],
      [
        [
          String(RUNS),
          runs.map((r) => fixed(r, 1)).join(", "),
          fixed(median(runs), 1),
          fixed(Math.max(...runs), 1),
        ],
      ],
    ),
    "",
    "- SPIRE polls a peer's endpoint at a quarter of the bundle's refresh hint after each fetch (15 s here), so " +
      "the bound is about 15 s plus the poll's own time; agents then sync it (their sync_interval) and push it " +
      "over SDS.",
  ].join("\n");
  writeSection("Federation: a peer's new CA root reaching this domain", body);
  console.log(body);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
