/**
 * Turns the server.conf a SPIRE server pod mounts into the config of a real spire-server process on this host.
 * The config is parsed with HashiCorp's HCL parser, edited as data, and written back with our HCL writer:
 *
 * - paths: every absolute path under one of the pod's volume mounts moves to that volume's host directory;
 * - listeners: the gRPC, health and federation bundle endpoint listeners bind 127.0.0.1 on free ports (the pod's 0.0.0.0:8081/8080 would
 *   clash with other servers), and the admin socket sits in the directory kwok's namespace maps to the image's
 *   /tmp/spire-server/private, so `kubectl exec ... spire-server entry ...` reaches it unchanged;
 * - Kubernetes access: k8s_psat and k8sbundle get `kube_config_file`/`kube_config_file_path` naming a kubeconfig
 *   with the pod's own ServiceAccount token, since there is no in-cluster config on the host. Node attestation
 *   stays k8s_psat (token reviews go to the loopback API server) and the bundle ConfigMap is really patched,
 *   both under the RBAC the stack created.
 * Nothing else changes: trust domain, CA, TTLs, datastore and key manager are the rendered ones.
 */
import { parse } from "@cdktf/hcl2json";
import { type HclBlock, type HclBody, type HclValue, renderHcl } from "../../spire/hcl";

export interface HostServerRemap {
  /** Mount path in the pod -> directory on this host. */
  readonly mounts: Readonly<Record<string, string>>;
  readonly bindPort: number;
  readonly healthPort: number;
  /** The federation bundle endpoint, when the config has one: several servers share this host. */
  readonly bundleEndpointPort?: number;
  readonly socketPath: string;
  readonly kubeconfig: string;
}

type Json = HclValue | Json[] | { [key: string]: Json } | null;

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isBlockList = (v: unknown): v is Record<string, Json>[] =>
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

function single(parent: Record<string, Json>, key: string): Record<string, Json> {
  const list = parent[key];
  if (!isBlockList(list) || list.length !== 1)
    throw new Error(`server.conf must have exactly one ${key} block`);
  return list[0];
}

export async function hostServerConf(podConf: string, remap: HostServerRemap): Promise<string> {
  const conf = remapPaths((await parse("server.conf", podConf)) as Json, remap.mounts) as Record<
    string,
    Json
  >;
  const server = single(conf, "server");
  server.bind_address = "127.0.0.1";
  server.bind_port = String(remap.bindPort);
  server.socket_path = remap.socketPath;
  const federation = server.federation;
  if (isBlockList(federation)) {
    for (const endpoint of federation.flatMap((f) =>
      isBlockList(f.bundle_endpoint) ? f.bundle_endpoint : [],
    )) {
      endpoint.address = "127.0.0.1";
      if (remap.bundleEndpointPort === undefined)
        throw new Error("server.conf has a bundle endpoint: remap its port");
      endpoint.port = remap.bundleEndpointPort;
    }
  }
  const health = single(conf, "health_checks");
  health.bind_address = "127.0.0.1";
  health.bind_port = String(remap.healthPort);
  const plugins = single(conf, "plugins") as Record<string, Record<string, Record<string, Json>[]>>;
  const pluginData = (type: string, name: string) => {
    const declared = plugins[type]?.[name];
    return declared ? single(declared[0], "plugin_data") : undefined;
  };
  const psat = pluginData("NodeAttestor", "k8s_psat");
  for (const cluster of Object.values((psat?.clusters ?? {}) as Record<string, Record<string, Json>>)) {
    cluster.kube_config_file = remap.kubeconfig;
  }
  const bundleNotifier = pluginData("Notifier", "k8sbundle");
  if (bundleNotifier) bundleNotifier.kube_config_file_path = remap.kubeconfig;
  return `${renderHcl(toBody(conf))}\n`;
}
