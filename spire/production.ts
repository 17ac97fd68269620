/**
 * The production side of SpireInstallation: where the servers keep their data (sqlite on one volume, or a shared
 * PostgreSQL), how many servers run, which CA they chain to, and Prometheus telemetry. Checked here, before any
 * resource exists, like every other argument; settings.ts merges the result into SpireSettings.
 */
import { type Checker, isDnsSubdomain, isPort } from "../core/validation";

/**
 * A value the builders carry but never read, such as a `pulumi.Input<string>` secret: it reaches a Kubernetes
 * Secret or an annotation unchanged. Checked only when it is a plain string.
 */
export type PassThrough<T> = T | PromiseLike<T> | { readonly apply: (...args: never[]) => unknown };

export type DatastoreArgs =
  /** One server's sqlite file on its data volume (the default, and the walkthrough's). */
  | { readonly type: "sqlite" }
  | {
      readonly type: "postgres";
      /**
       * libpq key=value connection string, e.g. `dbname=spire host=db port=5432 user=spire password=...
       * sslmode=verify-full sslrootcert=<DATASTORE_CA_FILE>` (with `caBundle`).
       * Pass it as a secret: it is stored in a Kubernetes Secret and reaches the servers through an environment
       * variable, never a ConfigMap or argv.
       */
      readonly connectionString: PassThrough<string>;
      /**
       * Something that changes when the database is replaced (an empty database), e.g. the RDS instance's
       * resource ID: entries re-assert themselves on the next `up` when it changes. Default: never re-assert.
       */
      readonly databaseId?: PassThrough<string>;
      /**
       * SPIRE's `max_open_conns` for each server: all replicas together must stay under the database's
       * connection limit. Default: SPIRE's own, 100 per server.
       */
      readonly maxOpenConns?: number;
      /**
       * PEM certificates of the CA that signs the database server's certificate (for RDS, the public RDS CA
       * bundle). Mounted read-only into every server at DATASTORE_CA_FILE, for a connection string with
       * `sslmode=verify-full sslrootcert=<DATASTORE_CA_FILE>`.
       */
      readonly caBundle?: string;
    };

export type UpstreamAuthorityArgs =
  | { readonly type: "none" }
  | {
      readonly type: "disk";
      /** An existing Secret in the SPIRE namespace holding the CA certificate (`tls.crt`) and key (`tls.key`). */
      readonly secretName: string;
      /** Key of that Secret holding the root certificate(s) when `tls.crt` is an intermediate. */
      readonly bundleKey?: string;
    }
  | {
      readonly type: "awsPca";
      /** arn:aws:acm-pca:<region>:<account>:certificate-authority/<id> */
      readonly certificateAuthorityArn: string;
      /** The CA's region; must be the ARN's. */
      readonly region: string;
      /** IAM role for the server's ServiceAccount (IRSA): annotated as eks.amazonaws.com/role-arn. */
      readonly serviceAccountRoleArn?: PassThrough<string>;
    };

export interface TelemetryArgs {
  /** Prometheus port on each server pod. Default 9988. */
  readonly serverPort?: number;
  /**
   * Prometheus port of each agent, on its node's network (agents use the host network). Default 9988 in
   * namespace spire, derived from the namespace elsewhere (hostClaims.ts).
   */
  readonly agentPort?: number;
}

export interface ProductionArgs {
  /** Where the servers keep entries, agents and bundles. Default `{ type: "sqlite" }`. */
  readonly datastore?: DatastoreArgs;
  /** Number of server replicas. Default 1; more than 1 requires `datastore` postgres. */
  readonly replicas?: number;
  /** With replicas: spread them across `nodes` or also across availability `zones`. Default: nodes. */
  readonly spreadAcross?: "nodes" | "zones";
  /** The CA the servers' own CAs chain to. Default `{ type: "none" }`: each server signs its own root. */
  readonly upstreamAuthority?: UpstreamAuthorityArgs;
  /** Prometheus listeners on servers and agents, with scrape annotations. Default: off. */
  readonly telemetry?: TelemetryArgs;
}

export type DatastoreSettings =
  | { readonly type: "sqlite" }
  | {
      readonly type: "postgres";
      readonly connectionString: PassThrough<string>;
      readonly databaseId?: PassThrough<string>;
      readonly maxOpenConns?: number;
      readonly caBundle?: string;
    };

export type UpstreamAuthoritySettings =
  | { readonly type: "none" }
  | { readonly type: "disk"; readonly secretName: string; readonly bundleKey?: string }
  | {
      readonly type: "awsPca";
      readonly certificateAuthorityArn: string;
      readonly region: string;
      readonly serviceAccountRoleArn?: PassThrough<string>;
      /** The ACM PCA template every IssueCertificate names: server.conf's and the IAM condition's, one value. */
      readonly signingTemplateArn: string;
    };

export interface ProductionSettings {
  readonly datastore: DatastoreSettings;
  readonly replicas: number;
  readonly spreadAcross: "nodes" | "zones";
  readonly upstreamAuthority: UpstreamAuthoritySettings;
  readonly telemetry?: { readonly serverPort: number; readonly agentPort: number };
}

export const productionDefaults: ProductionSettings = {
  datastore: { type: "sqlite" },
  replicas: 1,
  spreadAcross: "nodes",
  upstreamAuthority: { type: "none" },
};

export const productionKeys = [
  "datastore",
  "replicas",
  "spreadAcross",
  "upstreamAuthority",
  "telemetry",
] as const;

/** Ports the telemetry listeners must not take: the server's and the agent's own. */
export interface TakenPorts {
  readonly server: Readonly<Record<string, number>>;
  readonly agent: Readonly<Record<string, number>>;
}

export const TELEMETRY_PORT = 9988;
/** More servers than this only add load on the one database (SPIRE's scaling guide sizes in single digits). */
const MAX_REPLICAS = 9;
const pcaArn = /^arn:aws[a-z-]*:acm-pca:([a-z0-9-]+):\d{12}:certificate-authority\/[0-9a-f-]{36}$/;
const awsRegion = /^[a-z]{2}(-[a-z]+)+-\d$/;

const isPlainString = (v: unknown): v is string => typeof v === "string";

/**
 * The ACM PCA template SPIRE's aws_pca plugin requests by default (1.13.3, awspca/pca.go
 * defaultCASigningTemplateArn): a subordinate CA that may sign only end entities (path length 0), in the CA's
 * own partition (the plugin's default is hard-coded to `arn:aws`, so the stack always names it).
 */
export const awsPcaSigningTemplateArn = (certificateAuthorityArn: string): string => {
  const partition = /^arn:(aws[a-z-]*):/.exec(certificateAuthorityArn)?.[1] ?? "aws";
  return `arn:${partition}:acm-pca:::template/SubordinateCACertificate_PathLen0/V1`;
};

/** Where every server finds the database's CA bundle (datastore.caBundle), for `sslrootcert=`. */
export const DATASTORE_CA_DIR = "/run/spire/datastore-ca";
export const DATASTORE_CA_KEY = "ca-bundle.pem";
export const DATASTORE_CA_FILE = `${DATASTORE_CA_DIR}/${DATASTORE_CA_KEY}`;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

/** PEM certificates and nothing else (no private key, no stray text), at least one. */
const isCertificateBundle = (pem: unknown): boolean =>
  typeof pem === "string" &&
  (pem.match(PEM_CERTIFICATE) ?? []).length > 0 &&
  pem.replace(PEM_CERTIFICATE, "").trim() === "";

function datastore(c: Checker, args: DatastoreArgs | undefined): DatastoreSettings {
  const d = args ?? productionDefaults.datastore;
  if (d.type === "sqlite") return d;
  if (d.type !== "postgres") {
    c.fail("datastore.type", (d as { type: unknown }).type, "must be sqlite or postgres");
    return productionDefaults.datastore;
  }
  const cs = d.connectionString;
  if (cs === undefined || cs === null) {
    c.fail("datastore.connectionString", cs, "is required with datastore postgres");
  } else if (isPlainString(cs)) {
    // Plain text reaches server.conf through -expandEnv: a quote, backslash or newline would end the HCL string.
    if (c.check(cs.trim() !== "", "datastore.connectionString", cs, "must not be empty")) {
      c.check(
        !/["\\\n\r]/.test(cs),
        "datastore.connectionString",
        "[secret]",
        'must not contain ", \\ or a line break (it is substituted into server.conf)',
      );
    }
  }
  if (d.maxOpenConns !== undefined) {
    c.check(
      Number.isInteger(d.maxOpenConns) && d.maxOpenConns >= 1 && d.maxOpenConns <= 5000,
      "datastore.maxOpenConns",
      d.maxOpenConns,
      "must be an integer from 1 to 5000 (SPIRE's max_open_conns per server)",
    );
  }
  if (d.caBundle !== undefined) {
    c.check(
      isCertificateBundle(d.caBundle),
      "datastore.caBundle",
      typeof d.caBundle === "string" ? `(${d.caBundle.length} characters)` : d.caBundle,
      "must be PEM certificates only (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), e.g. the RDS CA bundle",
    );
    if (isPlainString(cs)) {
      c.check(
        cs.includes(`sslrootcert=${DATASTORE_CA_FILE}`) && /\bsslmode=verify-full\b/.test(cs),
        "datastore.connectionString",
        "[secret]",
        `must hold sslmode=verify-full sslrootcert=${DATASTORE_CA_FILE} when datastore.caBundle is given`,
      );
    }
  }
  return {
    type: "postgres",
    connectionString: cs,
    databaseId: d.databaseId,
    ...(d.maxOpenConns !== undefined ? { maxOpenConns: d.maxOpenConns } : {}),
    ...(d.caBundle !== undefined ? { caBundle: d.caBundle } : {}),
  };
}

function upstreamAuthority(c: Checker, args: UpstreamAuthorityArgs | undefined): UpstreamAuthoritySettings {
  const u = args ?? productionDefaults.upstreamAuthority;
  if (u.type === "none") return u;
  if (u.type === "disk") {
    c.check(
      isDnsSubdomain(u.secretName),
      "upstreamAuthority.secretName",
      u.secretName,
      "must name the Secret holding the upstream CA's tls.crt and tls.key",
    );
    if (u.bundleKey !== undefined) {
      c.check(
        typeof u.bundleKey === "string" && /^[-._a-zA-Z0-9]{1,253}$/.test(u.bundleKey),
        "upstreamAuthority.bundleKey",
        u.bundleKey,
        "must be a Secret key (letters, digits, '-', '_', '.')",
      );
    }
    return { type: "disk", secretName: u.secretName, bundleKey: u.bundleKey };
  }
  if (u.type === "awsPca") {
    const match =
      typeof u.certificateAuthorityArn === "string" ? pcaArn.exec(u.certificateAuthorityArn) : null;
    c.check(
      match !== null,
      "upstreamAuthority.certificateAuthorityArn",
      u.certificateAuthorityArn,
      "must be an ACM PCA ARN: arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>",
    );
    if (
      c.check(awsRegion.test(u.region ?? ""), "upstreamAuthority.region", u.region, "must be an AWS region")
    ) {
      // The plugin calls the region it is given; a CA lives in exactly one.
      if (match) {
        c.check(
          match[1] === u.region,
          "upstreamAuthority.region",
          u.region,
          `must be the CA's region ${match[1]} (from its ARN)`,
        );
      }
    }
    return {
      type: "awsPca",
      certificateAuthorityArn: u.certificateAuthorityArn,
      region: u.region,
      serviceAccountRoleArn: u.serviceAccountRoleArn,
      signingTemplateArn: awsPcaSigningTemplateArn(u.certificateAuthorityArn ?? ""),
    };
  }
  c.fail("upstreamAuthority.type", (u as { type: unknown }).type, "must be none, disk or awsPca");
  return productionDefaults.upstreamAuthority;
}

function telemetry(
  c: Checker,
  args: TelemetryArgs | undefined,
  taken: TakenPorts,
  agentDefault: number,
): ProductionSettings["telemetry"] {
  if (args === undefined) return undefined;
  const ports = {
    serverPort: args.serverPort ?? TELEMETRY_PORT,
    agentPort: args.agentPort ?? agentDefault,
  };
  for (const [field, port, others] of [
    ["serverPort", ports.serverPort, taken.server],
    ["agentPort", ports.agentPort, taken.agent],
  ] as const) {
    if (!c.check(isPort(port), `telemetry.${field}`, port, "must be an integer port in 1-65535")) continue;
    for (const [name, other] of Object.entries(others)) {
      c.check(port !== other, `telemetry.${field}`, port, `must differ from ${name} ${other}`);
    }
  }
  return ports;
}

/**
 * Checks the production arguments; `volumeArgs` are the data-volume arguments given (postgres refuses
 * protectData); `agentTelemetryPort` is the installation's default agent telemetry port (hostClaims.ts).
 */
export function productionSettings(
  c: Checker,
  args: ProductionArgs,
  taken: TakenPorts,
  volumeArgs: Readonly<Record<string, unknown>>,
  agentTelemetryPort: number,
): ProductionSettings {
  const store = datastore(c, args.datastore);
  const replicas = args.replicas ?? productionDefaults.replicas;
  if (
    c.check(
      Number.isInteger(replicas) && replicas >= 1 && replicas <= MAX_REPLICAS,
      "replicas",
      replicas,
      `must be an integer from 1 to ${MAX_REPLICAS}`,
    )
  ) {
    c.check(
      replicas === 1 || store.type === "postgres",
      "replicas",
      replicas,
      "more than 1 requires datastore postgres: sqlite is one server's file on one volume",
    );
  }
  if (store.type === "postgres" && volumeArgs.protectData !== undefined) {
    c.fail(
      "protectData",
      volumeArgs.protectData,
      "conflicts with datastore postgres: the entries live in the database (protect that); each replica's key claim is its own resource, kept across StatefulSet replacements",
    );
  }
  const spreadAcross = args.spreadAcross ?? productionDefaults.spreadAcross;
  c.check(
    spreadAcross === "nodes" || spreadAcross === "zones",
    "spreadAcross",
    spreadAcross,
    "must be nodes or zones",
  );
  return {
    datastore: store,
    replicas,
    spreadAcross,
    upstreamAuthority: upstreamAuthority(c, args.upstreamAuthority),
    telemetry: telemetry(c, args.telemetry, taken, agentTelemetryPort),
  };
}
