/**
 * Turns the server.conf a SPIRE server pod mounts into the config of a real spire-server process on this host
 * (../serverConfData.ts parses it, moves it and writes it back):
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
import {
  federationBlocks,
  type HostListeners,
  type Json,
  pluginData,
  type ServerConf,
  serverConfOnHost,
  single,
  writeServerConf,
} from "../serverConfData";

export interface HostServerRemap extends HostListeners {
  readonly kubeconfig: string;
}

export async function hostServerConf(podConf: string, remap: HostServerRemap): Promise<string> {
  const conf = await serverConfOnHost(podConf, remap);
  const psat = pluginData(conf, "NodeAttestor", "k8s_psat");
  for (const cluster of Object.values((psat?.clusters ?? {}) as Record<string, Record<string, Json>>)) {
    cluster.kube_config_file = remap.kubeconfig;
  }
  const bundleNotifier = pluginData(conf, "Notifier", "k8sbundle");
  if (bundleNotifier) bundleNotifier.kube_config_file_path = remap.kubeconfig;
  return writeServerConf(conf);
}

/** The ports the server listens on inside its pod, as its config gives them (SPIRE's defaults where unset). */
export async function podListenerPorts(
  podConf: string,
): Promise<{ bindPort: number; healthPort?: number; bundleEndpointPorts: number[] }> {
  const conf = (await parse("server.conf", podConf)) as ServerConf;
  const health = single(conf, "health_checks");
  return {
    bindPort: Number(single(conf, "server").bind_port ?? 8081),
    healthPort: String(health.listener_enabled) === "true" ? Number(health.bind_port ?? 80) : undefined,
    bundleEndpointPorts: federationBlocks(conf).endpoints.map((e) => Number(e.port ?? 443)),
  };
}
