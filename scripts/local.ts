/**
 * npm run local:up    the main job on an embedded default: the loopback cluster (cluster:up), then the real
 *                     `pulumi up` of the dev stack into .cache/local/state; prints the outputs and how to run
 *                     pulumi against it (source .cache/local/env).
 * npm run local:down  `pulumi destroy` of that stack, then cluster:down.
 *
 * The entries run through the stand-in command plugin (local/commandProvider.ts) and reach a real SPIRE server
 * process through kubectl exec (see local/cluster/). dataPlane=appmesh cannot run here: its Helm chart cannot be
 * pulled offline.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { clusterDown, clusterUp, REPO_ROOT, readClusterState } from "../local/cluster/cluster";
import { initStack, pulumiOk } from "../local/pulumiCli";

const WORK_DIR = path.join(REPO_ROOT, ".cache", "local");
const STACK = "dev";

/** A shell file that points pulumi and kubectl at the local stack and cluster. */
function writeEnvFile(env: NodeJS.ProcessEnv, configFile: string): string {
  const file = path.join(WORK_DIR, "env");
  const keys = [
    "PATH",
    "PULUMI_HOME",
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
    "KUBECONFIG",
  ];
  const quote = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;
  const lines = [
    "# source this file: pulumi and kubectl then address the local dev stack and the loopback cluster",
    ...keys.map((k) => `export ${k}=${quote(env[k] ?? "")}`),
    `export PULUMI_STACK_CONFIG=${quote(configFile)}`,
  ];
  fs.writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o600 });
  return file;
}

async function up() {
  const cluster = await clusterUp({ log: (l) => console.log(l) });
  const stack = initStack({
    projectDir: REPO_ROOT,
    stack: STACK,
    workDir: WORK_DIR,
    kubeconfig: cluster.kubeconfig,
  });
  console.log(`\n== pulumi up (stack ${STACK}, state in ${path.join(WORK_DIR, "state")})`);
  await pulumiOk(stack, ["up", "--yes", "--skip-preview"], { timeoutMs: 600_000, echo: true }).catch((e) => {
    console.error(e.message);
    process.exit(1);
  });
  const outputs = await pulumiOk(stack, ["stack", "output", "--json"]);
  console.log(`\n== stack outputs\n${outputs.stdout}`);
  const envFile = writeEnvFile(stack.env, stack.configFile);
  console.log(
    [
      "== next",
      `source ${path.relative(process.cwd(), envFile)}`,
      "pulumi stack output --stack dev verify",
      'pulumi preview --stack dev --config-file "$PULUMI_STACK_CONFIG"',
      'pulumi config set --stack dev --config-file "$PULUMI_STACK_CONFIG" registerGreen true && pulumi up --stack dev --config-file "$PULUMI_STACK_CONFIG"',
      "kubectl get pods -A",
      "npm run local:down",
    ].join("\n"),
  );
}

async function down() {
  const cluster = readClusterState();
  if (cluster && fs.existsSync(path.join(WORK_DIR, "state"))) {
    if (!cluster.processes.length) await clusterUp({ log: (l) => console.log(l) });
    const stack = initStack({
      projectDir: REPO_ROOT,
      stack: STACK,
      workDir: WORK_DIR,
      kubeconfig: cluster.kubeconfig,
    });
    console.log(`== pulumi destroy (stack ${STACK})`);
    await pulumiOk(stack, ["destroy", "--yes", "--skip-preview"], { timeoutMs: 600_000, echo: true });
    // --preserve-config: the project's Pulumi.dev.yaml is not this stack's (ours is a copy in .cache/local).
    await pulumiOk(stack, ["stack", "rm", "--yes", "--preserve-config"]);
  }
  await clusterDown({ log: (l) => console.log(l) });
  fs.rmSync(WORK_DIR, { recursive: true, force: true });
}

const command = process.argv[2];
(command === "up"
  ? up()
  : command === "down"
    ? down()
    : Promise.reject(new Error("usage: local.ts up|down"))
).catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
