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

export interface TestServerCertificate {
  /** The issuing CA's certificate: what a client's sslrootcert holds. */
  readonly caPem: string;
  readonly certificatePem: string;
  /** The server's throwaway key, for the test's own server only. */
  readonly keyPem: string;
}

/** A fresh CA and a server certificate it signs for `dnsName` only (no IP SAN). */
export function testServerCertificate(dnsName: string): TestServerCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-test-server-"));
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 20_000 });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  try {
    openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=test database CA",
    ]);
    openssl([
      "req",
      "-new",
      ...ec,
      "-keyout",
      file("server.key"),
      "-out",
      file("server.csr"),
      "-subj",
      `/CN=${dnsName}`,
    ]);
    fs.writeFileSync(file("ext.cnf"), `subjectAltName=DNS:${dnsName}\nextendedKeyUsage=serverAuth\n`);
    openssl([
      "x509",
      "-req",
      "-in",
      file("server.csr"),
      "-CA",
      file("ca.pem"),
      "-CAkey",
      file("ca.key"),
      "-CAcreateserial",
      "-out",
      file("server.pem"),
      "-days",
      "1",
      "-extfile",
      file("ext.cnf"),
    ]);
    const read = (name: string) => fs.readFileSync(file(name), "utf8");
    return { caPem: read("ca.pem"), certificatePem: read("server.pem"), keyPem: read("server.key") };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
