/**
 * A cluster going down must not detach the bind mounts of another cluster still running: its created mount points
 * stay while any process mounts on them, and go once none does.
 */
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { mkdirRecorded, mountedAnywhere, removeCreatedMountPoints } from "../../local/cluster/mountPoints";

describe("cluster mount points shared by parallel clusters", function () {
  this.timeout(30_000);
  let work: string;
  let holder: ChildProcess | undefined;

  beforeEach(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "spm-mounts-"));
  });
  afterEach(() => {
    holder?.kill("SIGKILL");
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("keeps a created directory another namespace mounts on, and removes it once that mount is gone", async () => {
    const created = mkdirRecorded(path.join(work, "opt", "spire", "bin"));
    assert.deepEqual(
      created,
      ["opt", "opt/spire", "opt/spire/bin"].map((p) => path.join(work, p)),
    );
    const source = fs.mkdtempSync(path.join(work, "source-"));
    // Another cluster's kwok: a private mount namespace with a bind mount on the directory, kept alive.
    holder = spawn(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        'mount --bind "$1" "$2" && exec sleep 60',
        "sh",
        source,
        created[2],
      ],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100 && !mountedAnywhere(created[2]); i++) await delay(50);
    assert.ok(mountedAnywhere(created[2]), "the holder never mounted on the directory");

    removeCreatedMountPoints(created);
    for (const dir of created) assert.ok(fs.existsSync(dir), `${dir} removed while mounted on elsewhere`);

    holder.kill("SIGKILL");
    await new Promise((resolve) => holder?.once("exit", resolve));
    assert.equal(mountedAnywhere(created[2]), false);
    removeCreatedMountPoints(created);
    for (const dir of created) assert.equal(fs.existsSync(dir), false, `${dir} left behind`);
  });
});
