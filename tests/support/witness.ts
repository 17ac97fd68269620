/**
 * Witnesses for the reliability suites: what a sidecar serves right now, traffic that records when each request
 * ran (so a test can count the ones sent during an outage), and SPIRE log lines written within a window.
 */
import * as fs from "node:fs";
import type { LocalMesh } from "../../local/mesh";

export interface ServedCertificate {
  readonly serial: string;
  /** notBefore, epoch ms (SPIRE backdates it 10 s before issuance). */
  readonly validFrom: number;
  readonly expiresAt: number;
}

/** The leaf of the first SVID a sidecar serves, from its /certs; throws while it holds none. */
export async function servedCertificate(mesh: LocalMesh, workload: string): Promise<ServedCertificate> {
  const json = JSON.parse(await mesh.admin(workload, "/certs")) as {
    certificates: { cert_chain: { serial_number: string; valid_from: string; expiration_time: string }[] }[];
  };
  const leaf = json.certificates[0]?.cert_chain[0];
  if (!leaf) throw new Error(`${workload} serves no certificate`);
  return {
    serial: leaf.serial_number,
    validFrom: Date.parse(leaf.valid_from),
    expiresAt: Date.parse(leaf.expiration_time),
  };
}

/** One request front -> `color`: the status, 0 when the connection failed. */
export async function viaFront(mesh: LocalMesh, color: string): Promise<number> {
  try {
    const r = await fetch(`${mesh.ingressUrl("front")}/`, { headers: { color_header: color } });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

export interface Sent {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly status: number;
}

/** Every traffic loop still running, so a failed test's loop is stopped by stopAllTraffic (an afterEach). */
const loops = new Set<() => Promise<unknown>>();

export async function stopAllTraffic(): Promise<void> {
  await Promise.all([...loops].map((stop) => stop()));
}

/** Requests front -> `color` back to back until stopped, each recorded with its time. */
export function traffic(mesh: LocalMesh, color: string) {
  const sent: Sent[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const startedAt = Date.now();
      const status = await viaFront(mesh, color);
      sent.push({ startedAt, endedAt: Date.now(), status });
    }
  })();
  const failures = () => sent.filter((s) => s.status !== 200);
  const stop = async () => {
    running = false;
    loops.delete(stop);
    await done;
    return { requests: sent.length, failures: failures().length };
  };
  loops.add(stop);
  return {
    sent,
    /** Requests that began and ended inside [from, to]. */
    within: (from: number, to: number) => sent.filter((s) => s.startedAt >= from && s.endedAt <= to),
    stop,
  };
}

/** Where a log file ends now: lines written after this mark are read by `linesSince`. */
export const logMark = (file: string): number => fs.statSync(file).size;

/** Lines appended to a log since `mark`, with their logrus `time="..."` (RFC 3339, ns) as epoch ms. */
export function linesSince(file: string, mark: number): { at: number; line: string }[] {
  const text = fs.readFileSync(file).subarray(mark).toString("utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => ({ at: Date.parse(/time="([^"]+)"/.exec(line)?.[1] ?? ""), line }));
}
