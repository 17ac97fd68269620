/**
 * The sidecar's admin interface as the harness and the tests reach it: over its Unix socket (no TCP port), from a
 * directory of its own. Root (the harness) may open any socket; a workload uid only its own.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";

/** GET `adminPath` over the admin socket: the answer's status and body. */
export function adminGet(socket: string, adminPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath: socket, path: adminPath, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

/**
 * A socket path in a new directory (mode 0700) owned by `uid` (default: this process's), as the pod's admin
 * volume is the Envoy container's alone.
 */
export function newAdminSocketPath(uid?: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "envoy-admin-"));
  if (uid !== undefined) fs.chownSync(dir, uid, uid);
  return path.join(dir, "admin.sock");
}
