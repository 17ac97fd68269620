/**
 * A rendered server.conf as data, moved onto this host. The text is parsed with HashiCorp's HCL parser, edited as
 * data, and written back with our HCL writer, so the rest of the file runs exactly as rendered. Shared by the
 * two places a rendered config runs here: a server pod on the loopback cluster (cluster/hostServerConfig.ts)
 * and the SPIRE test harness (loopbackServerConf.ts); each then swaps what its own platform needs.
 */
import { parse } from "@cdktf/hcl2json";
import { type HclBlock, type HclBody, type HclValue, renderHcl } from "../spire/hcl";

export type Json = HclValue | Json[] | { [key: string]: Json } | null;
export type ServerConf = Record<string, Json>;

export const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
export const isBlockList = (v: unknown): v is Record<string, Json>[] =>
  Array.isArray(v) && v.length > 0 && v.every(isObject);

/** hcl2json's shape back into HCL: lists of objects are blocks, objects of block lists are labels. */
function toBody(object: Record<string, Json>): HclBody {
  const body: (HclBlock | readonly [string, HclValue])[] = [];
  const blocks = (name: string, labels: string[], value: Json) => {
    if (isBlockList(value)) {
      for (const item of value) body.push({ block: name, labels, body: toBody(item) });
    } else if (isObject(value) && Object.values(value).every((v) => isBlockList(v) || isObject(v))) {
      for (const [label, inner] of Object.entries(value)) blocks(name, [...labels, label], inner);
    } else {
      throw new Error(`cannot write ${name} back as HCL`);
    }
  };
  for (const [key, value] of Object.entries(object)) {
    const labelled = isObject(value) && Object.values(value).every(isBlockList);
    if (isBlockList(value) || labelled) blocks(key, [], value);
    else body.push([key, value as HclValue]);
  }
  return body;
}

function remapPaths(value: Json, mounts: Readonly<Record<string, string>>): Json {
  if (typeof value === "string") {
    for (const [mountPath, hostDir] of Object.entries(mounts)) {
      if (value === mountPath || value.startsWith(`${mountPath}/`))
        return hostDir + value.slice(mountPath.length);
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => remapPaths(v, mounts));
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, remapPaths(v, mounts)]));
  return value;
}

/** The one block `key` of `parent`; anything else is a config this code was not written for. */
export function single(parent: Record<string, Json>, key: string): Record<string, Json> {
  const list = parent[key];
  if (!isBlockList(list) || list.length !== 1)
    throw new Error(`server.conf must have exactly one ${key} block`);
  return list[0];
}

/** The `plugin_data` of plugin `Type "name"`, when the config declares it. */
export function pluginData(conf: ServerConf, type: string, name: string): Record<string, Json> | undefined {
  const plugins = single(conf, "plugins") as Record<string, Record<string, Record<string, Json>[]>>;
  const declared = plugins[type]?.[name];
  return declared ? single(declared[0], "plugin_data") : undefined;
}

/** The `federation` block's `bundle_endpoint` and `federates_with` blocks (none without federation). */
export function federationBlocks(conf: ServerConf): {
  endpoints: Record<string, Json>[];
  peers: Record<string, Record<string, Json>>;
} {
  const federation = single(conf, "server").federation;
  if (!isBlockList(federation)) return { endpoints: [], peers: {} };
  const endpoints = federation.flatMap((f) => (isBlockList(f.bundle_endpoint) ? f.bundle_endpoint : []));
  const peers: Record<string, Record<string, Json>> = {};
  for (const f of federation) {
    if (!isObject(f.federates_with)) continue;
    for (const [td, blocks] of Object.entries(f.federates_with)) {
      if (isBlockList(blocks)) peers[td] = blocks[0];
    }
  }
  return { endpoints, peers };
}

export interface HostListeners {
  /** Mount path in the pod -> directory on this host. */
  readonly mounts: Readonly<Record<string, string>>;
  readonly bindPort: number;
  readonly healthPort: number;
  /** The federation bundle endpoint, when the config has one: several servers share this host. */
  readonly bundleEndpointPort?: number;
  readonly socketPath: string;
}

/**
 * Parses a pod's server.conf and moves it onto this host: every absolute path under one of the pod's mounts to
 * that mount's host directory, and the gRPC, health and bundle endpoint listeners to 127.0.0.1 on the given
 * ports (the pod's 0.0.0.0:8081/8080/8443 would clash with other servers), the admin socket to `socketPath`.
 */
export async function serverConfOnHost(podConf: string, host: HostListeners): Promise<ServerConf> {
  const conf = remapPaths((await parse("server.conf", podConf)) as Json, host.mounts) as ServerConf;
  const server = single(conf, "server");
  server.bind_address = "127.0.0.1";
  server.bind_port = String(host.bindPort);
  server.socket_path = host.socketPath;
  for (const endpoint of federationBlocks(conf).endpoints) {
    endpoint.address = "127.0.0.1";
    if (host.bundleEndpointPort === undefined)
      throw new Error("server.conf has a bundle endpoint: remap its port");
    endpoint.port = host.bundleEndpointPort;
  }
  const health = single(conf, "health_checks");
  health.bind_address = "127.0.0.1";
  health.bind_port = String(host.healthPort);
  return conf;
}

export const writeServerConf = (conf: ServerConf): string => `${renderHcl(toBody(conf))}\n`;
