/**
 * A rendered server.conf (a server pod's, as the stack renders it) run by the SPIRE test harness: moved onto
 * this host (serverConfData.ts), then given the harness's own platform, the same `ServerPlatform` it builds its
 * configs from settings with: its node attestors instead of k8s_psat (no cluster to review tokens), its
 * notifiers instead of k8sbundle (agents read the bundle from a file), its extra server keys. Federation peers
 * move to their loopback endpoints. Everything else (trust domain, CA, key manager, datastore, the federation
 * block's profiles and endpoint IDs) runs as rendered, apart from the timings a test asks for by name.
 */
import { podPaths, type ServerPlatform } from "../spire/config";
import type { HclBody } from "../spire/hcl";
import {
  federationBlocks,
  isObject,
  type Json,
  type ServerConf,
  serverConfOnHost,
  single,
  writeServerConf,
} from "./serverConfData";

/** Shorter lifetimes for a test that waits for a rotation; unset keeps the rendered value. */
export interface ServerTiming {
  /** `ca_ttl` */
  readonly caTtl?: string;
  /** `default_x509_svid_ttl` */
  readonly x509SvidTtl?: string;
  /** The own bundle endpoint's `refresh_hint`: peers poll at a quarter of it. */
  readonly bundleRefreshHint?: string;
}

/** A rendered server.conf for the harness, and what of it changes besides the platform. */
export interface RenderedServerConf {
  /** The text of the server pod's server.conf ConfigMap. */
  readonly text: string;
  /** Where its bundle endpoint listens here, when it has one; peers are configured with it before any starts. */
  readonly bundleEndpointPort?: number;
  /** Each federated trust domain's bundle endpoint URL here; the rendered ones are the peers' cluster addresses. */
  readonly peerBundleEndpoints?: Readonly<Record<string, string>>;
  readonly timing?: ServerTiming;
}

/** Our HCL writer's blocks as hcl2json's data: `Type "name" { ... }` is `{ Type: { name: [{ ... }] } }`. */
function asData(body: HclBody): Record<string, Json> {
  const data: Record<string, Json> = {};
  for (const item of body) {
    if (!("block" in item)) {
      data[item[0]] = item[1] as Json;
      continue;
    }
    let holder = data;
    let key = item.block;
    for (const label of item.labels) {
      if (!isObject(holder[key])) holder[key] = {};
      holder = holder[key] as Record<string, Json>;
      key = label;
    }
    holder[key] = [...((holder[key] as Json[] | undefined) ?? []), asData(item.body)];
  }
  return data;
}

export async function loopbackServerConf(
  rendered: RenderedServerConf,
  trustDomain: string,
  platform: ServerPlatform,
): Promise<string> {
  if (!platform.socketPath) throw new Error("the harness gives every server its own admin socket path");
  const conf: ServerConf = await serverConfOnHost(rendered.text, {
    mounts: { [podPaths.serverDataDir]: platform.dataDir, [podPaths.upstreamCaDir]: platform.upstreamCaDir },
    bindPort: platform.bindPort,
    healthPort: platform.healthPort,
    bundleEndpointPort: rendered.bundleEndpointPort,
    socketPath: platform.socketPath,
  });
  const server = single(conf, "server");
  if (server.trust_domain !== trustDomain) {
    throw new Error(
      `rendered server.conf is for trust domain ${server.trust_domain}, the harness for ${trustDomain}`,
    );
  }
  if (conf.telemetry !== undefined)
    throw new Error("rendered server.conf has telemetry, which the harness does not move");
  Object.assign(server, asData(platform.extraServer ?? []));
  const plugins = single(conf, "plugins");
  plugins.NodeAttestor = asData(platform.nodeAttestors).NodeAttestor;
  delete plugins.Notifier;
  if (platform.notifiers.length > 0) plugins.Notifier = asData(platform.notifiers).Notifier;

  const { endpoints, peers } = federationBlocks(conf);
  const urls = rendered.peerBundleEndpoints ?? {};
  for (const td of new Set([...Object.keys(peers), ...Object.keys(urls)])) {
    if (!peers[td])
      throw new Error(
        `peerBundleEndpoints names ${td}, which the rendered server.conf does not federate with`,
      );
    if (!urls[td])
      throw new Error(`rendered server.conf federates with ${td}: give its loopback bundle endpoint URL`);
    peers[td].bundle_endpoint_url = urls[td];
  }
  const timing = rendered.timing ?? {};
  if (timing.caTtl) server.ca_ttl = timing.caTtl;
  if (timing.x509SvidTtl) server.default_x509_svid_ttl = timing.x509SvidTtl;
  if (timing.bundleRefreshHint) {
    if (endpoints.length === 0)
      throw new Error("timing.bundleRefreshHint: the rendered server.conf has no bundle endpoint");
    for (const endpoint of endpoints) endpoint.refresh_hint = timing.bundleRefreshHint;
  }
  return writeServerConf(conf);
}
