/**
 * examples/federation under the real engine, on a loopback cluster of its own (so it runs next to the other
 * real-engine suites): one project, a file backend, two stacks. east goes up first (SPIRE and its bundle
 * endpoint only: west has published nothing), then west (bundle set of east's bundle read through its
 * StackReference, the caller federating with east), then east again (west's bundle, the greeter admitting west's
 * caller). Both real spire-servers then hold the peer's bundle and the federating entries. Then east's CA
 * rotates (SPIRE's own prepare and activate, through its admin API: no waiting for a short ca_ttl) and a plain
 * `up` of east exports the roots east's server holds now; a preview with a read-only (`view`) kubeconfig, as
 * the PR preview has, runs no exec and proposes no change. Both stacks destroy cleanly. Lean on purpose: one
 * `up` per step, one preview.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { binary, serverSocketOf } from "../../local/cluster/cluster";
import { initStack, type PulumiStack, pulumi, pulumiOk } from "../../local/pulumiCli";
import {
  changesSince,
  type E2eCluster,
  inventory,
  serverEntries,
  startE2eCluster,
  viewKubeconfig,
} from "./support";

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const PROJECT = path.join(REPO_ROOT, "examples", "federation");

/** `spire-server <args>` against the real server behind a namespace's spire-server-0; its stdout. */
function serverCli(cluster: E2eCluster, namespace: string, args: readonly string[]): string {
  const socket = serverSocketOf(cluster.state.dir, namespace, "spire-server-0");
  const r = spawnSync(binary("spire-server"), [...args, "-socketPath", socket], {
    encoding: "utf8",
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`spire-server ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The federated bundles a real server holds, by trust domain. */
function federatedBundles(cluster: E2eCluster, namespace: string): string[] {
  const listed = JSON.parse(serverCli(cluster, namespace, ["bundle", "list", "-output", "json"]));
  return ((listed.bundles ?? []) as { trust_domain: string }[]).map((b) => b.trust_domain).sort();
}

/** The X.509 roots of a bundle in SPIFFE format, by SHA-256 fingerprint, sorted. */
function rootsOf(spiffeBundle: string): string[] {
  const keys = (JSON.parse(spiffeBundle).keys ?? []) as { use: string; x5c?: string[] }[];
  return keys
    .filter((k) => k.use === "x509-svid")
    .map((k) => new X509Certificate(Buffer.from((k.x5c ?? [])[0], "base64")).fingerprint256)
    .sort();
}

/** A CA rotation now, as SPIRE does it at half and five sixths of ca_ttl: prepare the next CA, then activate it. */
function rotateCa(cluster: E2eCluster, namespace: string): void {
  const prepared = JSON.parse(
    serverCli(cluster, namespace, ["localauthority", "x509", "prepare", "-output", "json"]),
  ).prepared_authority.authority_id;
  serverCli(cluster, namespace, ["localauthority", "x509", "activate", "-authorityID", prepared]);
}

describe("examples/federation: east and west under the real engine", function () {
  this.timeout(240_000);
  let cluster: E2eCluster;
  let east: PulumiStack;
  let west: PulumiStack;
  let beforeUp: Awaited<ReturnType<typeof inventory>>;
  let readOnlyKubeconfig: string;
  const started = Date.now();

  before(async () => {
    cluster = await startE2eCluster("spm-fed-e2e-");
    const workDir = path.join(cluster.workDir, "pulumi");
    // The stacks' kubeconfig at one path whose contents the preview swaps, as CI writes the deploy's and the
    // preview's at the same path: the Kubernetes provider stores the path, and a new one is an update.
    const kubeconfig = path.join(cluster.workDir, "kubeconfig");
    fs.copyFileSync(cluster.state.kubeconfig, kubeconfig);
    // Both stacks exist before the first up: a StackReference to a missing stack fails.
    east = initStack({ projectDir: PROJECT, stack: "east", workDir, kubeconfig });
    west = initStack({ projectDir: PROJECT, stack: "west", workDir, kubeconfig });
    // A throwaway cluster: destroy may remove the servers' data volumes.
    for (const stack of [east, west]) await pulumiOk(stack, ["config", "set", "protectData", "false"]);
    readOnlyKubeconfig = await viewKubeconfig(cluster);
    beforeUp = await inventory(cluster.api);
  });
  after(async () => {
    await cluster?.stop();
    console.log(`      federation e2e: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
  });

  const up = (stack: PulumiStack) => pulumiOk(stack, ["up", "--yes", "--skip-preview"]);
  const outputs = async (stack: PulumiStack) =>
    JSON.parse((await pulumiOk(stack, ["stack", "output", "--json", "--show-secrets"])).stdout);

  it("east, west, east: each server federates with the other and holds the federating entries", async () => {
    const first = await up(east);
    assert.match(first.stdout + first.stderr, /has published no caller yet/);
    const eastOut = await outputs(east);
    assert.match(eastOut.bundle, /"keys"/);
    assert.doesNotMatch(eastOut.bundle, /PRIVATE KEY|"d":/);
    assert.equal(eastOut.bundleEndpointSpiffeId, "spiffe://east.example/spire/server");

    await up(west);
    assert.deepEqual(federatedBundles(cluster, "spire-west"), ["east.example"]);
    const caller = serverEntries(cluster.state, "spire-west").find(
      (e) => e.spiffe_id.path === "/ns/west/sa/caller",
    );
    assert.deepEqual((caller as unknown as { federates_with: string[] }).federates_with, ["east.example"]);

    await up(east);
    assert.deepEqual(federatedBundles(cluster, "spire-east"), ["west.example"]);
    const greeter = serverEntries(cluster.state, "spire-east").find(
      (e) => e.spiffe_id.path === "/ns/east/sa/greeter",
    );
    assert.deepEqual((greeter as unknown as { federates_with: string[] }).federates_with, ["west.example"]);
  });

  it("east's CA rotates: a plain up exports the roots its server holds now; a read-only preview changes nothing", async () => {
    const exported = async () => rootsOf((await outputs(east)).bundle);
    const held = () => rootsOf(serverCli(cluster, "spire-east", ["bundle", "show", "-format", "spiffe"]));
    const before = await exported();
    assert.deepEqual(before, held(), "the last up exported the bundle east held");
    rotateCa(cluster, "spire-east");
    const rotated = held();
    assert.equal(
      rotated.filter((r) => !before.includes(r)).length,
      1,
      "the rotation added a root not exported",
    );

    await up(east);
    assert.deepEqual(await exported(), rotated);

    // The PR preview's identity: `view` cannot create pods/exec, so any exec at preview would fail it.
    const exec = spawnSync(
      binary("kubectl"),
      ["exec", "-n", "spire-east", "spire-server-0", "-c", "spire-server", "--", "true"],
      { encoding: "utf8", env: { ...process.env, KUBECONFIG: readOnlyKubeconfig }, timeout: 20_000 },
    );
    assert.match(exec.stderr, /cannot create resource "pods\/exec"/);
    const kubeconfig = east.env.KUBECONFIG as string;
    const admin = fs.readFileSync(kubeconfig);
    fs.copyFileSync(readOnlyKubeconfig, kubeconfig);
    const preview = await pulumi(east, ["preview", "--expect-no-changes", "--json"]).finally(() =>
      fs.writeFileSync(kubeconfig, admin),
    );
    assert.equal(preview.status, 0, preview.stdout + preview.stderr);
    const summary = JSON.parse(preview.stdout).changeSummary as Record<string, number>;
    assert.deepEqual(Object.keys(summary), ["same"], JSON.stringify(summary));
    assert.ok(summary.same > 20, `${summary.same} resources compared`);
  });

  it("destroys both stacks cleanly", async () => {
    await pulumiOk(west, ["destroy", "--yes", "--skip-preview"]);
    await pulumiOk(east, ["destroy", "--yes", "--skip-preview"]);
    assert.deepEqual(await changesSince(cluster.api, beforeUp), []);
  });
});
