/**
 * Rule 1: every meshed listener is STRICT mTLS. Envoy bootstraps are found by content (any ConfigMap value that
 * is JSON with static_resources.listeners), not by ConfigMap name, and every listener not bound to loopback is
 * checked whatever its name; App Mesh VirtualNodes and VirtualGateways by
 * type token (they are CustomResources, so their token carries the group, version and kind).
 */
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import {
  arr,
  type Finding,
  globMatch,
  type Json,
  obj,
  plain,
  reportAll,
  show,
  stackOfUrn,
  str,
  stringListSchema,
  subject,
} from "../support";

export const MTLS_STRICT = "mtls-strict-listeners";

export interface MtlsStrictConfig {
  /** Globs of stack names where the rule is mandatory; advisory in every other stack. */
  readonly mandatoryStacks?: readonly string[];
  /**
   * Edge nodes whose ingress may be plaintext or PERMISSIVE because their callers are outside the mesh, as
   * `namespace/name`. The namespace is the object's own (the bootstrap ConfigMap's, the VirtualNode's), never
   * one the bootstrap declares: an entry exempts nothing outside its namespace.
   */
  readonly plaintextIngress?: readonly string[];
}

export const MTLS_STRICT_DEFAULTS = { mandatoryStacks: ["prod*"], plaintextIngress: [] as string[] };

const description =
  "Every meshed listener is STRICT mTLS: every Envoy listener not bound to loopback (bar a readiness-only probe " +
  "listener) has TLS with a required client certificate on every filter chain, App Mesh VirtualNode and VirtualGateway listeners have tls.mode STRICT " +
  "with a validation context. Mandatory in stacks matching mandatoryStacks (default prod*), advisory elsewhere; " +
  "edge nodes whose callers are outside the mesh are listed in plaintextIngress (namespace/name).";

/** A node named in pack config (plaintextIngress, exempt): its namespace, a slash, its name. */
export const EDGE_NODE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

const RULE = "meshed listeners must be STRICT mTLS";
const APP_MESH_TYPE = /^kubernetes:appmesh\.k8s\.aws\/[^:]+:(VirtualNode|VirtualGateway)$/;

const isTlsSocket = (socket: Json): boolean => {
  const s = obj(socket);
  if (!s) return false;
  const type = str(obj(s.typed_config)?.["@type"]) ?? "";
  return s.name === "envoy.transport_sockets.tls" || type.endsWith(".DownstreamTlsContext");
};

/** The listener's TLS posture as the message shows it, or undefined when it is STRICT. */
export function envoyListenerProblem(listener: Json): string | undefined {
  const l = obj(listener) ?? {};
  const chains = [...arr(l.filter_chains), ...(obj(l.default_filter_chain) ? [l.default_filter_chain] : [])]
    .map(obj)
    .filter((c): c is Record<string, Json> => c !== undefined);
  const tls = chains.filter((c) => isTlsSocket(c.transport_socket));
  if (chains.length === 0 || tls.length === 0) return "plaintext (no TLS transport socket)";
  if (tls.length < chains.length) {
    const raw = chains.some((c) => obj(c.filter_chain_match)?.transport_protocol === "raw_buffer");
    return `PERMISSIVE (${raw ? "a plaintext raw_buffer filter chain" : "a filter chain without TLS"} next to the TLS one)`;
  }
  if (tls.some((c) => obj(c.transport_socket?.typed_config)?.require_client_certificate !== true)) {
    return "TLS without a required client certificate";
  }
  return undefined;
}

/** Whether `namespace/name` is listed; the namespace must be the object's own metadata.namespace. */
/** Whether a listener is reachable only from inside the pod: a loopback address (127.0.0.0/8, ::1) or a pipe. */
function isPodLocal(listener: Json): boolean {
  const address = obj(obj(listener)?.address);
  if (obj(address?.pipe)) return true;
  const ip = str(obj(address?.socket_address)?.address);
  return ip !== undefined && (/^127\.\d+\.\d+\.\d+$/.test(ip) || ip === "::1");
}

/** `address:port` of a socket address or `pipe:<path>` of a Unix socket, to compare an endpoint with the admin. */
const addressKey = (address: Json): string | undefined => {
  const socket = obj(obj(address)?.socket_address);
  if (socket) return `${str(socket.address)}:${socket.port_value}`;
  const pipe = str(obj(obj(address)?.pipe)?.path);
  return pipe === undefined ? undefined : `pipe:${pipe}`;
};

/**
 * Whether the listener is a kubelet readiness probe and nothing else: plaintext by necessity (the kubelet has no
 * SVID), so judged by what it serves, never by its name. Every filter chain is one HTTP connection manager whose
 * every route matches exactly `path: /ready` and goes to a cluster whose only endpoints are Envoy's own admin
 * address: the probe sees Envoy's readiness and no byte of the app.
 */
function isReadinessOnly(listener: Json, bootstrap: Json): boolean {
  const admin = addressKey(obj(obj(bootstrap)?.admin)?.address);
  if (!admin) return false;
  const adminClusters = new Set(
    arr(obj(obj(bootstrap)?.static_resources)?.clusters)
      .map(obj)
      .filter((c) => {
        const endpoints = arr(obj(c?.load_assignment)?.endpoints).flatMap((e) => arr(obj(e)?.lb_endpoints));
        return (
          endpoints.length > 0 && endpoints.every((e) => addressKey(obj(obj(e)?.endpoint)?.address) === admin)
        );
      })
      .flatMap((c) => str(c?.name) ?? []),
  );
  const chains = arr(obj(listener)?.filter_chains).map(obj);
  return (
    chains.length > 0 &&
    chains.every((chain) => {
      const filters = arr(chain?.filters).map(obj);
      const routes = arr(obj(obj(filters[0]?.typed_config)?.route_config)?.virtual_hosts).flatMap((v) =>
        arr(obj(v)?.routes).map(obj),
      );
      return (
        filters.length === 1 &&
        routes.length > 0 &&
        routes.every((r) => {
          // Envoy's match takes one of path, prefix, safe_regex...: `path` rules out the others.
          const cluster = str(obj(r?.route)?.cluster);
          return obj(r?.match)?.path === "/ready" && cluster !== undefined && adminClusters.has(cluster);
        })
      );
    })
  );
}

const exempt = (list: readonly string[], namespace: string | undefined, name: string | undefined): boolean =>
  namespace !== undefined && name !== undefined && list.includes(`${namespace}/${name}`);

function envoyFindings(props: Json, name: string, edge: readonly string[]): Finding[] {
  const what = subject("kubernetes:core/v1:ConfigMap", props, name);
  const namespace = str(props?.metadata?.namespace);
  const findings: Finding[] = [];
  for (const [key, value] of Object.entries(obj(props?.data) ?? {})) {
    const text = str(value);
    if (!text?.includes("static_resources")) continue;
    let bootstrap: Json;
    try {
      bootstrap = JSON.parse(text);
    } catch {
      continue;
    }
    const listeners = arr(obj(bootstrap?.static_resources)?.listeners);
    const nodeId = str(bootstrap?.node?.id);
    const node = nodeId?.split(".")[0];
    // The node id names the node; only the ConfigMap's own namespace says where it is.
    if (exempt(edge, namespace, node)) continue;
    for (const [i, listener] of listeners.entries()) {
      // Judged by where it listens and what it serves, never by its name: any name can be chosen.
      if (isPodLocal(listener) || isReadinessOnly(listener, bootstrap)) continue;
      const listenerName = str(obj(listener)?.name) ?? `listeners[${i}]`;
      const problem = envoyListenerProblem(listener);
      if (problem) {
        findings.push({
          message: `${what}: Envoy node ${node ?? "(no node id)"} (data.${key}), listener ${listenerName} = ${problem}: ${RULE}`,
        });
      }
    }
  }
  return findings;
}

function appMeshFindings(type: string, props: Json, name: string, edge: readonly string[]): Finding[] {
  const what = subject(type, props, name);
  const nodeName = str(props?.metadata?.name);
  const namespace = str(props?.metadata?.namespace);
  if (exempt(edge, namespace, nodeName)) return [];
  const findings: Finding[] = [];
  arr(obj(props?.spec)?.listeners).forEach((listener, i) => {
    const field = `spec.listeners[${i}].tls`;
    const tls = obj(obj(listener)?.tls);
    if (!tls) {
      findings.push({ message: `${what}: ${field} = (missing, plaintext): ${RULE}` });
      return;
    }
    const mode = tls.mode;
    if (str(mode) === undefined && mode !== undefined) return; // unknown at preview: checked again on update
    if (mode !== "STRICT") {
      findings.push({ message: `${what}: ${field}.mode = ${show(mode)}: ${RULE}` });
    } else if (!obj(tls.validation)) {
      findings.push({
        message: `${what}: ${field}.validation = (missing): ${RULE}; STRICT without validation asks callers for no certificate`,
      });
    }
  });
  return findings;
}

export const mtlsStrictPolicy: ResourceValidationPolicy = {
  name: MTLS_STRICT,
  description,
  enforcementLevel: "mandatory",
  configSchema: {
    properties: {
      mandatoryStacks: stringListSchema(
        "Globs of stack names where the rule is mandatory (it is advisory in other stacks).",
        MTLS_STRICT_DEFAULTS.mandatoryStacks,
      ),
      plaintextIngress: stringListSchema(
        "Edge nodes whose callers are outside the mesh, as namespace/name (the object's own namespace).",
        MTLS_STRICT_DEFAULTS.plaintextIngress,
        EDGE_NODE.source,
      ),
    },
  },
  validateResource: (args: ResourceValidationArgs, report) => {
    const isAppMesh = APP_MESH_TYPE.test(args.type);
    if (args.type !== "kubernetes:core/v1:ConfigMap" && !isAppMesh) return;
    const config = { ...MTLS_STRICT_DEFAULTS, ...args.getConfig<MtlsStrictConfig>() };
    const props = plain(args.props);
    const findings = isAppMesh
      ? appMeshFindings(args.type, props, args.name, config.plaintextIngress)
      : envoyFindings(props, args.name, config.plaintextIngress);
    const stack = stackOfUrn(args.urn);
    const mandatory = stack !== undefined && config.mandatoryStacks.some((p) => globMatch(p, stack));
    reportAll(report, description, findings, !mandatory);
  },
};
