/**
 * Certificates for the loopback control plane, made with openssl: one cluster CA, serving and client certs for
 * each component, a front-proxy CA, and the service-account signing key. EC P-256 keys: fast to make. Kept in
 * the cluster's own directory (mode 0700), never in the repository; `cluster:down --purge` removes them.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export interface ClusterPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly frontProxyCaCert: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  /** name -> { cert, key } for apiserver, admin, controller-manager, scheduler, kubelet-client, front-proxy-client, kwok. */
  readonly pairs: Readonly<Record<string, { readonly cert: string; readonly key: string }>>;
}

function openssl(args: readonly string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.error) throw new Error(`openssl not found (install Debian's openssl): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr.trim()}`);
}

const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function makeCa(dir: string, name: string, commonName: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  if (!fs.existsSync(cert)) {
    openssl([
      "req",
      "-x509",
      "-new",
      ...ecKey,
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "3650",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    ]);
  }
  return { cert, key };
}

interface LeafSpec {
  readonly subject: string;
  readonly altNames?: readonly string[];
}

function makeLeaf(
  dir: string,
  name: string,
  ca: { cert: string; key: string },
  spec: LeafSpec,
): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  if (fs.existsSync(cert)) return { cert, key };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    [
      "[leaf]",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      ...(spec.altNames?.length ? [`subjectAltName=${spec.altNames.join(",")}`] : []),
      "",
    ].join("\n"),
  );
  openssl(["req", "-new", ...ecKey, "-keyout", key, "-out", csr, "-subj", spec.subject]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "365",
    "-extfile",
    ext,
    "-extensions",
    "leaf",
  ]);
  fs.rmSync(csr);
  fs.rmSync(ext);
  return { cert, key };
}

/** Creates (or reuses) every certificate and key the control plane needs under `dir`. */
export function ensurePki(dir: string): ClusterPki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = makeCa(dir, "ca", "spire-mesh-loopback-ca");
  const frontProxyCa = makeCa(dir, "front-proxy-ca", "spire-mesh-loopback-front-proxy-ca");
  const loopback = ["IP:127.0.0.1", "DNS:localhost"];
  const pairs = {
    apiserver: makeLeaf(dir, "apiserver", ca, {
      subject: "/CN=kube-apiserver",
      altNames: [
        ...loopback,
        "IP:10.96.0.1",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
      ],
    }),
    admin: makeLeaf(dir, "admin", ca, { subject: "/O=system:masters/CN=spire-mesh-admin" }),
    "controller-manager": makeLeaf(dir, "controller-manager", ca, {
      subject: "/CN=system:kube-controller-manager",
    }),
    scheduler: makeLeaf(dir, "scheduler", ca, { subject: "/CN=system:kube-scheduler" }),
    // The API server's client identity towards kubelets (here kwok), for exec and port-forward.
    "kubelet-client": makeLeaf(dir, "kubelet-client", ca, {
      subject: "/O=system:masters/CN=kube-apiserver-kubelet-client",
    }),
    "front-proxy-client": makeLeaf(dir, "front-proxy-client", frontProxyCa, {
      subject: "/CN=front-proxy-client",
    }),
    // kwok's serving certificate, as a kubelet's.
    kwok: makeLeaf(dir, "kwok", ca, { subject: "/CN=kwok", altNames: loopback }),
  };
  const serviceAccountKey = path.join(dir, "sa.key");
  const serviceAccountPub = path.join(dir, "sa.pub");
  if (!fs.existsSync(serviceAccountPub)) {
    openssl([
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      serviceAccountKey,
    ]);
    openssl(["pkey", "-in", serviceAccountKey, "-pubout", "-out", serviceAccountPub]);
  }
  for (const file of fs.readdirSync(dir)) {
    if (file.endsWith(".key")) fs.chmodSync(path.join(dir, file), 0o600);
  }
  return {
    dir,
    caCert: ca.cert,
    caKey: ca.key,
    frontProxyCaCert: frontProxyCa.cert,
    serviceAccountKey,
    serviceAccountPub,
    pairs,
  };
}

/** A kubeconfig for one client identity, with the certificate files referenced by path. */
export function kubeconfigFor(
  pki: ClusterPki,
  server: string,
  user: string,
  pair: { cert: string; key: string },
): string {
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "loopback", cluster: { server, "certificate-authority": pki.caCert } }],
      users: [{ name: user, user: { "client-certificate": pair.cert, "client-key": pair.key } }],
      contexts: [{ name: "loopback", context: { cluster: "loopback", user } }],
      "current-context": "loopback",
    },
    null,
    2,
  );
}
