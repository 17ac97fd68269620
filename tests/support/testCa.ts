/**
 * A throwaway CA certificate for tests that need a PEM bundle where the product takes a public CA bundle (the
 * RDS CA): made by openssl at test time, its key deleted at once. Real certificate bytes, invented by nobody.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

let cached: string | undefined;

/**
 * `openssl req -x509`: a self-signed P-256 certificate for one day, each of `extensions` an `-addext`; key and
 * certificate go to the given files ("-": stdout, which is returned).
 */
export function selfSignedCertificate(o: {
  readonly subject: string;
  readonly keyOut: string;
  readonly certOut: string;
  readonly extensions?: readonly string[];
}): string {
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  args.push("-keyout", o.keyOut, "-out", o.certOut, "-days", "1", "-subj", o.subject);
  for (const extension of o.extensions ?? []) args.push("-addext", extension);
  const made = spawnSync("openssl", args, { encoding: "utf8", timeout: 20_000 });
  if (made.status !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  return made.stdout;
}

export function testCaBundle(): string {
  if (cached) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-test-ca-"));
  try {
    const cert = path.join(dir, "ca.pem");
    selfSignedCertificate({
      subject: "/CN=spire-mesh test database CA",
      keyOut: path.join(dir, "ca.key"),
      certOut: cert,
    });
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
    selfSignedCertificate({
      subject: "/CN=test database CA",
      keyOut: file("ca.key"),
      certOut: file("ca.pem"),
    });
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
