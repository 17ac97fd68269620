/**
 * A `pulumi up` SIGKILLed while one entry command runs, and what it left: on the server, in the state, the lock.
 * Which of the three possible interleavings a kill lands in is decided from what is observed afterwards, never
 * assumed; the caller asserts the one it aimed at where the aim is deterministic.
 */
import * as fs from "node:fs";
import { setTimeout as delay } from "node:timers/promises";
import {
  checkpointFile,
  commandLineOf,
  descendantsOf,
  killTree,
  type PulumiResult,
  type PulumiStack,
  pulumi,
  pulumiOk,
  stackLocks,
} from "../../local/pulumiCli";
import type { Json } from "./devEntries";
import { type E2eCluster, serverEntries } from "./support";

/** When to kill, relative to the entry command of the resource aimed at. */
export type KillMoment =
  /** as soon as its runner runs (the engine has recorded the pending create): usually before the server has it */
  | "runner started"
  /** once the server holds the entry, the CLI frozen meanwhile so that it cannot record the create as done */
  | "entry on the server";

export const CASES = {
  beforeServer: "killed before the entry reached the server: create pending, no entry",
  onServerPending: "entry on the server, its create still pending in the state",
  recorded: "entry created and recorded: no pending create",
} as const;
export type InterruptedCase = (typeof CASES)[keyof typeof CASES];

export interface Interrupted {
  readonly result: PulumiResult;
  readonly case: InterruptedCase;
  /** Whether the runner was still running when the CLI was frozen: then the engine cannot have recorded it. */
  readonly runnerOutlivedFreeze?: boolean;
  readonly locks: number;
}

const POLL_MS = 25;

/** The create of `resource` the checkpoint holds as pending (the engine saves it just before calling Create). */
function pendingCreates(stack: PulumiStack): string[] {
  try {
    const latest = JSON.parse(fs.readFileSync(checkpointFile(stack), "utf8")).checkpoint?.latest;
    return (latest?.pending_operations ?? []).map(
      (p: Json) => `${p.type} ${p.resource.urn.split("::").pop()}`,
    );
  } catch {
    return []; // absent, or caught mid-write
  }
}

/** The PID of the entry runner for `entryId` among the CLI's descendants, if one runs. */
const runnerOf = (cli: number, entryId: string) =>
  descendantsOf(cli).find((p) => {
    const line = commandLineOf(p);
    return line.includes("spire-entry.js") && line.includes(`"${entryId}"`);
  });

const onServer = (cluster: E2eCluster, entryId: string) =>
  serverEntries(cluster.state).some((e) => (e as unknown as { id: string }).id === entryId);

/**
 * Waits until no command that `kubectl exec` started through this cluster's kwok still runs: a killed kubectl
 * does not stop what it started on the server's side, which may still create the entry after the kill.
 */
async function execsSettled(cluster: E2eCluster): Promise<void> {
  const kwok = cluster.state.processes.find((p) => p.name === "kwok");
  if (!kwok) throw new Error("no kwok process recorded in the cluster state");
  const deadline = Date.now() + 30_000;
  while (descendantsOf(kwok.pid).length > 0) {
    if (Date.now() > deadline) throw new Error("commands exec'd through kwok still run 30 s after the kill");
    await delay(50);
  }
}

/** Runs `up`, kills it at `moment` of `resource`'s entry command (entry `entryId`), and classifies what it left. */
export async function interruptedUp(
  stack: PulumiStack,
  cluster: E2eCluster,
  target: { resource: string; entryId: string; moment: KillMoment },
): Promise<Interrupted> {
  let runnerOutlivedFreeze: boolean | undefined;
  let failure: Error | undefined;
  const result = await pulumi(stack, ["up", "--yes", "--skip-preview"], {
    onSpawn: (cli) => {
      const aim = async () => {
        while (
          !pendingCreates(stack).includes(`creating ${target.resource}`) ||
          runnerOf(cli, target.entryId) === undefined
        ) {
          if (commandLineOf(cli) === "") throw new Error(`up ended before ${target.resource}'s runner ran`);
          await delay(POLL_MS);
        }
        if (target.moment === "runner started") return killTree(cli);
        process.kill(cli, "SIGSTOP"); // the engine can record nothing from here on; its plugins run on
        runnerOutlivedFreeze = runnerOf(cli, target.entryId) !== undefined;
        const deadline = Date.now() + 60_000;
        while (!onServer(cluster, target.entryId)) {
          if (Date.now() > deadline) break; // kill anyway; the classification below says what happened
          await delay(POLL_MS);
        }
        killTree(cli);
      };
      aim().catch((e) => {
        failure = e as Error;
        killTree(cli);
      });
    },
  });
  if (failure) throw failure;
  await execsSettled(cluster);
  const deployment = JSON.parse((await pulumiOk(stack, ["stack", "export"])).stdout).deployment;
  const pending = (deployment.pending_operations ?? []).some(
    (p: Json) => p.type === "creating" && p.resource.urn.endsWith(`::${target.resource}`),
  );
  const recorded = (deployment.resources ?? []).some((r: Json) => r.urn.endsWith(`::${target.resource}`));
  const served = onServer(cluster, target.entryId);
  const observed = `pending create ${pending}, in the state ${recorded}, on the server ${served}`;
  let which: InterruptedCase;
  if (pending && !recorded && !served) which = CASES.beforeServer;
  else if (pending && !recorded && served) which = CASES.onServerPending;
  else if (!pending && recorded && served) which = CASES.recorded;
  else throw new Error(`an interleaving no kill can produce: ${observed}\n${result.stdout}`);
  return { result, case: which, runnerOutlivedFreeze, locks: stackLocks(stack).length };
}
