/**
 * The loopback cluster's own promises: starting twice is safe, stopping kills only the processes it recorded
 * (by PID and start time), and a part that does not come up is reported with its log tail while everything
 * already started is stopped again.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { clusterDown, clusterUp, readClusterState } from "../../local/cluster/cluster";
import { KubeApi } from "../../local/cluster/kubeApi";
import { isAlive, startTimeOf } from "../../local/cluster/processes";

describe("loopback cluster (cluster:up / cluster:down)", function () {
  this.timeout(120_000);
  let work: string;

  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "spm-cluster-"));
  });
  afterEach(async () => {
    await clusterDown({ dir: path.join(work, "cluster"), purge: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("comes up with a Ready fake node and a default StorageClass; a second up changes nothing", async () => {
    const dir = path.join(work, "cluster");
    const first = await clusterUp({ dir });
    const api = KubeApi.fromKubeconfig(first.kubeconfig);
    try {
      const node = (await api.get("/api/v1/nodes/kwok-node-0")).body;
      assert.equal(node.status.conditions.find((c: { type: string }) => c.type === "Ready")?.status, "True");
      const classes = (await api.get("/apis/storage.k8s.io/v1/storageclasses")).body.items;
      assert.deepEqual(
        classes
          .filter(
            (c: { metadata: { annotations?: Record<string, string> } }) =>
              c.metadata.annotations?.["storageclass.kubernetes.io/is-default-class"] === "true",
          )
          .map((c: { metadata: { name: string } }) => c.metadata.name),
        ["kwok-volume"],
      );
    } finally {
      api.close();
    }
    const second = await clusterUp({ dir });
    assert.deepEqual(
      second.processes.map((p) => p.pid),
      first.processes.map((p) => p.pid),
    );
    assert.ok(first.processes.every(isAlive));
  });

  it("down stops the recorded processes and no other, even one that reused a recorded PID", async () => {
    const dir = path.join(work, "cluster");
    const state = await clusterUp({ dir });
    // A bystander recorded under a wrong start time stands for a process that reused a PID after a reboot.
    const bystander = spawn("sleep", ["300"], { stdio: "ignore" });
    const stale = { name: "stale", pid: bystander.pid as number, startTime: "1", log: "/dev/null" };
    fs.writeFileSync(
      path.join(dir, "state.json"),
      JSON.stringify({ ...state, processes: [...state.processes, stale] }),
    );
    try {
      await clusterDown({ dir });
      assert.deepEqual(state.processes.filter(isAlive), []);
      assert.equal(startTimeOf(bystander.pid as number) !== undefined, true, "the bystander must survive");
      assert.deepEqual(readClusterState(dir)?.processes, []);
    } finally {
      bystander.kill("SIGKILL");
    }
  });

  it("a part that cannot start fails with its log tail, and what did start is stopped", async () => {
    const dir = path.join(work, "cluster");
    const taken = net.createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => taken.once("listening", resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      await assert.rejects(clusterUp({ dir, ports: { apiserver: port } }), (e: Error) => {
        assert.match(e.message, /kube-apiserver exited before the API server's \/readyz; log tail:/);
        assert.match(e.message, /address already in use/);
        return true;
      });
    } finally {
      taken.close();
    }
    const recorded = JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8"));
    assert.deepEqual(recorded.processes, []);
  });
});
