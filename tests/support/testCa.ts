/**
 * A throwaway CA certificate for tests that need a PEM bundle where the product takes a public CA bundle (the
 * RDS CA): made by openssl at test time, its key deleted at once. Real certificate bytes, invented by nobody.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

let cached: string | undefined;

export function testCaBundle(): string {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-test-ca-"));
  try {
    const cert = path.join(dir, "ca.pem");
    const made = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        path.join(dir, "ca.key"),
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=spire-mesh test database CA",
      ],
      { encoding: "utf8", timeout: 20_000 },
    );
    if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
    cached = fs.readFileSync(cert, "utf8");
    return cached;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
