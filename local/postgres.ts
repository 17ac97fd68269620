/**
 * A throwaway PostgreSQL for tests, from Debian's `postgresql` package (scripts/install-postgres.sh): initdb into
 * a temp directory, listening on 127.0.0.1 on a free port only (its Unix socket in that directory too), run as
 * the `postgres` user because initdb refuses root, and stopped by its PID. The SPIRE servers get a libpq
 * connection string, as they would get RDS's.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { freePort } from "./ports";
import { trackPid, untrackPid } from "./processes";
import { PROPAGATION_MS } from "./waitUntil";

export const POSTGRES_INSTALL = "apt-get update && apt-get install -y postgresql";

export interface Postgres {
  readonly port: number;
  /** `dbname=spire host=127.0.0.1 port=<port> user=spire sslmode=disable` */
  readonly connectionString: string;
  /** The postmaster's PID (it changes on restart). */
  pid(): number;
  /** Runs one SQL statement as the database owner; rows as `|`-separated lines. */
  sql(statement: string): string;
  /** Creates another empty database on the same server; its connection string. */
  createDatabase(name: string): string;
  /**
   * Stops the server (fast shutdown: sessions are cut), keeps it down at least `minDownMs` and until `whileDown`
   * settled (a test's witness that something happened during the outage), and starts it again on the same data.
   * When it went down and when it answered again (epoch ms).
   */
  restart(options?: Outage): Promise<{ readonly downAt: number; readonly upAt: number }>;
  stop(): Promise<void>;
}

export interface Outage {
  readonly minDownMs?: number;
  readonly whileDown?: () => Promise<void> | void;
}

/** The newest PostgreSQL server binaries Debian installed (/usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  const majors = fs.existsSync(root)
    ? fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error(
      `PostgreSQL server binaries not found under ${root}: install them with \`${POSTGRES_INSTALL}\` ` +
        "(or run bash scripts/install-postgres.sh)",
    );
  }
  return path.join(root, majors[0], "bin");
}

const DB_USER = "spire";
const DB_NAME = "spire";

/** TLS for the listener: the server's certificate (PEM) and its key, which only the server's user may read. */
export interface PostgresTls {
  readonly certificatePem: string;
  readonly keyPem: string;
}

export async function startPostgres(options: { readonly tls?: PostgresTls } = {}): Promise<Postgres> {
  const bin = postgresBinDir();
  const root = process.getuid?.() === 0;
  // initdb and postgres refuse to run as root; as root we drop to the package's postgres user.
  const asOwner = (tool: string, args: readonly string[]) => {
    const [file, argv] = root
      ? ["runuser", ["-u", "postgres", "--", path.join(bin, tool), ...args]]
      : [path.join(bin, tool), [...args]];
    const r = spawnSync(file, argv, { encoding: "utf8", timeout: 60_000 });
    if (r.error || r.status !== 0) {
      throw new Error(`${tool} ${args.join(" ")} failed (${r.error?.message ?? r.status}): ${r.stderr}`);
    }
    return r.stdout;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-pg-"));
  const data = path.join(dir, "data");
  const log = path.join(dir, "postgres.log");
  if (root) {
    const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
    const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
    if (!Number.isInteger(uid))
      throw new Error(`no postgres user: install the server with \`${POSTGRES_INSTALL}\``);
    fs.chownSync(dir, uid, gid);
  }
  // PostgreSQL refuses a key file others can read; it must belong to the user the server runs as.
  const tlsFlags: string[] = [];
  if (options.tls) {
    const [cert, key] = [path.join(dir, "server.crt"), path.join(dir, "server.key")];
    fs.writeFileSync(cert, options.tls.certificatePem);
    fs.writeFileSync(key, options.tls.keyPem, { mode: 0o600 });
    if (root) {
      const owner = fs.statSync(dir);
      for (const file of [cert, key]) fs.chownSync(file, owner.uid, owner.gid);
    }
    tlsFlags.push(`-c ssl=on -c ssl_cert_file=${cert} -c ssl_key_file=${key}`);
  }
  const port = await freePort();
  // Trust auth is fine here: the listener is loopback-only and the cluster lives for one test run.
  asOwner("initdb", ["-D", data, "-A", "trust", "-U", DB_USER, "-E", "UTF8", "--no-sync"]);
  const pidFile = path.join(data, "postmaster.pid");
  let pid = 0;
  const start = () => {
    asOwner("pg_ctl", [
      "-D",
      data,
      "-l",
      log,
      "-w",
      "-o",
      [`-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, ...tlsFlags].join(" "),
      "start",
    ]);
    pid = Number(fs.readFileSync(pidFile, "utf8").split("\n")[0]);
    trackPid(pid);
  };
  const stopByPid = async () => {
    if (pid === 0) return;
    untrackPid(pid);
    try {
      // SIGINT is PostgreSQL's fast shutdown: sessions are cut, the data stays consistent.
      process.kill(pid, "SIGINT");
    } catch {
      return;
    }
    const deadline = Date.now() + PROPAGATION_MS;
    while (fs.existsSync(pidFile)) {
      if (Date.now() > deadline)
        throw new Error(`PostgreSQL (pid ${pid}) still running ${PROPAGATION_MS} ms after SIGINT`);
      await delay(50);
    }
    pid = 0;
  };
  const psql = (statement: string, db = DB_NAME) => {
    const r = spawnSync(
      path.join(bin, "psql"),
      [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        DB_USER,
        "-d",
        db,
        "-At",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        statement,
      ],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (r.error || r.status !== 0) throw new Error(`psql: ${r.error?.message ?? r.stderr}`);
    return r.stdout;
  };
  try {
    start();
    psql(`CREATE DATABASE ${DB_NAME}`, "postgres");
  } catch (e) {
    await stopByPid();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `${(e as Error).message}\nlog:\n${fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""}`,
    );
  }
  const connectionString = (db: string) =>
    `dbname=${db} host=127.0.0.1 port=${port} user=${DB_USER} sslmode=disable`;
  return {
    port,
    connectionString: connectionString(DB_NAME),
    createDatabase: (name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name))
        throw new Error(`database name ${name}: lowercase identifier expected`);
      psql(`CREATE DATABASE ${name}`);
      return connectionString(name);
    },
    pid: () => pid,
    sql: (statement) => psql(statement),
    restart: async ({ minDownMs = 0, whileDown } = {}) => {
      await stopByPid();
      const downAt = Date.now();
      try {
        await whileDown?.();
      } finally {
        await delay(Math.max(0, minDownMs - (Date.now() - downAt)));
        start();
      }
      return { downAt, upAt: Date.now() };
    },
    stop: async () => {
      await stopByPid();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
