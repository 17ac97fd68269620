/**
 * What the host kubelet (hostPods.ts) takes from a server pod's spec to run its process as a kubelet would: the
 * user and groups from the security context, fsGroup applied to the writable volumes, read-only mounts made
 * read-only, and the container's own readiness probe. What it does not model, it refuses with the field named.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { inPrivateMountNamespace } from "./mountPoints";

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are read loosely.
type Obj = any;

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  /** The pod's fsGroup: a supplementary group of the process, and the group of its writable volumes. */
  readonly fsGroup?: number;
}

/** The process identity the pod's and container's security contexts give (the container's fields win). */
export function runAsOf(pod: Obj, container: Obj): RunAs {
  const name = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const podContext = pod.spec.securityContext ?? {};
  const context = { ...podContext, ...(container.securityContext ?? {}) };
  // Unset, the runtime would take the image's USER, which this host cannot read from an image it never pulls.
  for (const field of ["runAsUser", "runAsGroup"]) {
    if (!Number.isInteger(context[field]))
      throw new Error(
        `${name}: securityContext.${field} = ${context[field]}: must be set for the host kubelet`,
      );
  }
  if (context.runAsNonRoot === true && context.runAsUser === 0)
    throw new Error(
      `${name}: securityContext.runAsUser = 0 with runAsNonRoot = true: the kubelet refuses it`,
    );
  return { uid: context.runAsUser, gid: context.runAsGroup, fsGroup: podContext.fsGroup };
}

/**
 * The ownership a kubelet gives a writable volume for fsGroup: every file's group becomes fsGroup with group
 * read-write, every directory group-writable and setgid, so that what the process creates stays in the group.
 */
export function applyFsGroup(dir: string, fsGroup: number): void {
  const visit = (p: string) => {
    const stat = fs.lstatSync(p);
    if (stat.isSymbolicLink()) return;
    fs.chownSync(p, stat.uid, fsGroup);
    fs.chmodSync(p, (stat.mode & 0o7777) | (stat.isDirectory() ? 0o2070 : 0o060));
    if (stat.isDirectory()) for (const child of fs.readdirSync(p)) visit(path.join(p, child));
  };
  visit(dir);
}

/** Lets any user pass through `dir`'s ancestors (search only, no listing), as the process needs to reach it. */
export function traversable(dir: string): void {
  for (let p = path.dirname(path.resolve(dir)); ; p = path.dirname(p)) {
    const mode = fs.statSync(p).mode & 0o7777;
    if ((mode & 0o001) === 0) fs.chmodSync(p, mode | 0o001);
    if (p === path.dirname(p)) return;
  }
}

/**
 * argv running `command` as `runAs` in a mount namespace of its own in which each of `readOnly` is a read-only
 * bind mount of itself, so that not even a root process could write there. Paths go in as arguments.
 */
export function confinedArgv(
  command: readonly string[],
  runAs: RunAs,
  readOnly: readonly string[],
): string[] {
  const bindReadOnly =
    'set -eu; while [ "$1" != "--" ]; do mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; shift; done; ' +
    'shift; exec "$@"';
  return inPrivateMountNamespace(bindReadOnly, [
    ...readOnly,
    "--",
    "setpriv",
    `--reuid=${runAs.uid}`,
    `--regid=${runAs.gid}`,
    ...(runAs.fsGroup === undefined ? ["--clear-groups"] : [`--groups=${runAs.fsGroup}`]),
    "--",
    ...command,
  ]);
}

/** Where the container's readiness probe reaches on this host, or why it cannot reach the process at all. */
export type ReadinessTarget =
  | { readonly url: string }
  | { readonly unreachable: string }
  | { readonly none: true };

/**
 * The container's readiness probe, pointed at this host: its path as written, its port resolved (by name through
 * the container's ports) and found among the server's listeners in the pod (`podPorts`: port in the pod -> port
 * on this host). A port no listener of the pod holds answers nothing, as in the pod. httpGet over HTTP only.
 */
export function readinessTarget(
  pod: Obj,
  container: Obj,
  podPorts: ReadonlyMap<number, number>,
): ReadinessTarget {
  const name = `${pod.metadata.namespace}/${pod.metadata.name}`;
  const probe = container.readinessProbe;
  if (!probe) return { none: true };
  if (!probe.httpGet)
    throw new Error(
      `${name}: readinessProbe ${Object.keys(probe).join(", ")}: only httpGet is modelled here`,
    );
  const { path: probePath = "/", port, scheme = "HTTP", host } = probe.httpGet;
  if (scheme !== "HTTP") throw new Error(`${name}: readinessProbe.httpGet.scheme = ${scheme}: only HTTP`);
  if (host !== undefined && host !== "127.0.0.1" && host !== "localhost")
    throw new Error(`${name}: readinessProbe.httpGet.host = ${host}: only the pod's own address is modelled`);
  const number =
    typeof port === "number" ? port : container.ports?.find((p: Obj) => p.name === port)?.containerPort;
  if (number === undefined)
    throw new Error(`${name}: readinessProbe.httpGet.port = ${JSON.stringify(port)} names no container port`);
  const hostPort = podPorts.get(number);
  if (hostPort === undefined) return { unreachable: `nothing in the pod listens on port ${number}` };
  return { url: `http://127.0.0.1:${hostPort}${probePath}` };
}
