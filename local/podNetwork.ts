/**
 * A pod's network namespace on this machine: a private one (`unshare --net`, loopback up) where a process runs
 * under a workload uid, and a way to run another process in it, as a second container of the pod would (same
 * loopback, its own uid). Argv builders only: values reach the processes as arguments, never through a shell
 * string. Needs root.
 */
import * as fs from "node:fs";

const dropTo = (uid: number) => ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--"];

/** `argv` as `uid` in a new network namespace whose loopback is up; the pid stays the process's (no fork). */
export function inNewPodNetwork(uid: number, argv: readonly string[]): string[] {
  return [
    "unshare",
    "--net",
    "--",
    "/bin/sh",
    "-c",
    'ip link set lo up && exec "$@"',
    "sh",
    ...dropTo(uid),
    ...argv,
  ];
}

/** `argv` as `uid` in the network namespace of process `pid`. */
export function inPodNetworkOf(pid: number, uid: number, argv: readonly string[]): string[] {
  return ["nsenter", `--net=/proc/${pid}/ns/net`, "--", ...dropTo(uid), ...argv];
}

/** The TCP ports listening in the network namespace of process `pid` (IPv4 and IPv6). */
export function listeningTcpPorts(pid: number): number[] {
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    for (const line of fs.readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN.
      if (fields[3] === "0A") ports.add(Number.parseInt(fields[1].split(":")[1], 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
