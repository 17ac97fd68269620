/**
 * One service's mesh identity and mTLS policy, checked, and rendered as an App Mesh VirtualNode
 * (appmesh.k8s.aws/v1beta2) exactly as the walkthrough writes them. Pure: no Pulumi.
 */

import { Checker, isDnsLabel, isPort } from "../core/validation";
import { federatedMemberDomain } from "../spire/federation";
import type { K8sObject } from "../spire/k8s";
import { checkWorkloadId, parseTrustDomain, trustDomainId } from "../spire/spiffeId";
import { type Authorization, type AuthorizationArgs, checkAuthorization } from "./authorization";
import { type CheckedCallers, checkCallers, checkListenerCallers } from "./callers";
import { TlsMode } from "./tlsMode";

export { TlsMode } from "./tlsMode";

export enum ListenerProtocol {
  Http = "http",
  Http2 = "http2",
  Grpc = "grpc",
  Tcp = "tcp",
}

export interface HealthCheckArgs {
  /** HTTP path probed on the listener. Default "/ping". */
  readonly path?: string;
  /** 2-10. Default 2. */
  readonly healthyThreshold?: number;
  /** 2-10. Default 2. */
  readonly unhealthyThreshold?: number;
  /** 2000-60000. Default 2000. */
  readonly timeoutMillis?: number;
  /** 5000-300000. Default 5000. */
  readonly intervalMillis?: number;
}

export interface VirtualNodeArgs {
  /** Kubernetes name of the node, e.g. "blue". */
  readonly name: string;
  /** Namespace of the node and of the pods it stands for. */
  readonly namespace: string;
  /** Labels of the pods this node stands for. */
  readonly podSelector: Readonly<Record<string, string>>;
  /** SPIFFE trust domain of its identity, e.g. "example.org": its SDS trust bundle is this domain's. */
  readonly trustDomain: string;
  /**
   * The node's SPIFFE ID: its SDS certificate secret name, and what peers see in its certificate. Needed for
   * listener TLS and for client TLS to backends. Default: none, for a plaintext node that calls no one over mTLS.
   */
  readonly identity?: string;
  /** Listener port. Default 8080. */
  readonly port?: number;
  /** Listener protocol. Default http. */
  readonly protocol?: ListenerProtocol;
  /** Active health check on the listener. Default: the walkthrough's (see HealthCheckArgs). */
  readonly healthCheck?: HealthCheckArgs;
  /**
   * Listener TLS. Default: none, plaintext, as the walkthrough's front. STRICT needs `allowedCallers`; conflicts
   * with `allowedCallers` when PERMISSIVE, DISABLED or unset.
   */
  readonly tlsMode?: TlsMode;
  /**
   * SPIFFE IDs allowed to call this node (listener SAN exact match). STRICT requires at least one. Default:
   * none. Conflicts with `tlsMode` PERMISSIVE, DISABLED or unset.
   */
  readonly allowedCallers?: readonly string[];
  /** Names of the virtual services this node calls. Default: none. */
  readonly backends?: readonly string[];
  /**
   * SPIFFE IDs this node accepts from its backends (client SAN exact match). Enables client TLS. Default: none,
   * no client TLS.
   */
  readonly allowedServers?: readonly string[];
  /** DNS name the mesh resolves the node by. Default `<name>.<namespace>.svc.cluster.local`. */
  readonly hostname?: string;
  /**
   * Federated trust domains whose workloads may be among its callers and servers. The node's SPIRE entry must
   * federate with them too, so that the agent delivers their bundles (MeshWorkload does both). Default: none,
   * peers of its own trust domain only.
   */
  readonly federatesWith?: readonly string[];
  /**
   * Who of `allowedCallers` may do what (paths, methods, a header on HTTP; connect on tcp), by SPIFFE ID.
   * STRICT only; envoy data plane only. Default: none, every allowed caller may do anything.
   */
  readonly authorization?: AuthorizationArgs;
}

export interface VirtualNodeSpec {
  readonly name: string;
  readonly namespace: string;
  readonly podSelector: Readonly<Record<string, string>>;
  readonly trustDomainId: string;
  readonly identity?: string;
  readonly port: number;
  readonly protocol: ListenerProtocol;
  readonly healthCheck: Required<HealthCheckArgs>;
  readonly tlsMode?: TlsMode;
  readonly allowedCallers: readonly string[];
  readonly backends: readonly string[];
  readonly allowedServers: readonly string[];
  readonly hostname: string;
  /** Federated trust domains (bare names, sorted); non-empty means peers are validated per trust domain. */
  readonly federatesWith: readonly string[];
  readonly authorization?: Authorization;
}

/**
 * The SDS secret that validates peers. Within one trust domain, `spiffe://<td>`: that domain's bundle. With
 * federation, SPIRE's `ALL` (agent `default_all_bundles_name`): one SPIFFE certificate validator config listing
 * the own and every federated bundle the workload's entries federate with, each peer checked against the
 * bundle of its own trust domain (checked against agent 1.13.3 in tests/local/federation.test.ts).
 */
export const ALL_BUNDLES_SECRET = "ALL";
export const validationSecret = (n: VirtualNodeSpec): string =>
  n.federatesWith.length > 0 ? ALL_BUNDLES_SECRET : n.trustDomainId;

export const walkthroughHealthCheck: Required<HealthCheckArgs> = {
  path: "/ping",
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  timeoutMillis: 2000,
  intervalMillis: 5000,
};

const healthCheckLimits = [
  ["healthyThreshold", 2, 10],
  ["unhealthyThreshold", 2, 10],
  ["timeoutMillis", 2000, 60000],
  ["intervalMillis", 5000, 300000],
] as const;

const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const inRange = (n: unknown, min: number, max: number) =>
  Number.isInteger(n) && (n as number) >= min && (n as number) <= max;

/**
 * The node's arguments, checked. `checkedCallers`: its `allowedCallers` as a MeshWorkload's plan already checked
 * them (under its own field names), so they are not checked twice.
 */
export function virtualNodeSpec(args: VirtualNodeArgs, checkedCallers?: CheckedCallers): VirtualNodeSpec {
  const c = new Checker(`MtlsVirtualNode ${args?.name}`);
  c.check(isDnsLabel(args.name), "name", args.name, "must be a Kubernetes name (RFC 1123 label)");
  c.check(isDnsLabel(args.namespace), "namespace", args.namespace, "must be a Kubernetes namespace name");
  const trustDomain = c.attempt("trustDomain", args.trustDomain, () => parseTrustDomain(args.trustDomain));
  const selector = args.podSelector ?? {};
  c.check(
    Object.keys(selector).length > 0,
    "podSelector",
    selector,
    "must select the node's pods by at least one label",
  );
  for (const [k, v] of Object.entries(selector)) {
    c.check(
      typeof v === "string" && v.length <= 63 && labelValue.test(v),
      `podSelector.${k}`,
      v,
      "must be a label value",
    );
  }
  const federatesWith: string[] = [];
  for (const [i, td] of (args.federatesWith ?? []).entries()) {
    const parsed = c.attempt(`federatesWith[${i}]`, td, () =>
      parseTrustDomain(td.replace(/^spiffe:\/\//, "")),
    );
    if (parsed === undefined) continue;
    c.check(parsed !== trustDomain, `federatesWith[${i}]`, td, "is the node's own trust domain");
    if (!federatesWith.includes(parsed)) federatesWith.push(parsed);
  }
  federatesWith.sort();
  const spiffe = (field: string, id: string) =>
    trustDomain !== undefined && c.attempt(field, id, () => checkWorkloadId(id, trustDomain));
  /** A peer: a workload ID of the own trust domain or of a federated one. */
  const peer = (field: string, id: string) =>
    trustDomain !== undefined &&
    c.attempt(field, id, () => checkWorkloadId(id, federatedMemberDomain(id, trustDomain, federatesWith)));
  if (args.identity !== undefined) spiffe("identity", args.identity);

  const port = args.port ?? 8080;
  c.check(isPort(port), "port", port, "must be an integer port in 1-65535");
  const protocol = args.protocol ?? ListenerProtocol.Http;
  const protocols = Object.values(ListenerProtocol) as string[];
  c.check(protocols.includes(protocol), "protocol", protocol, `must be one of ${protocols.join(", ")}`);

  const healthCheck = { ...walkthroughHealthCheck, ...args.healthCheck };
  c.check(
    /^\/\S*$/.test(healthCheck.path),
    "healthCheck.path",
    healthCheck.path,
    "must be an absolute HTTP path",
  );
  // App Mesh's limits, from the VirtualNode CRD.
  for (const [key, min, max] of healthCheckLimits) {
    const value = healthCheck[key];
    c.check(inRange(value, min, max), `healthCheck.${key}`, value, `must be an integer in ${min}-${max}`);
  }

  const callers = (
    checkedCallers ??
    checkCallers(c, args.allowedCallers ?? [], {
      at: (i) => `allowedCallers[${i}]`,
      trustDomain,
      federated: federatesWith,
    })
  ).ids;
  const authorization = checkAuthorization(c, args.authorization, {
    protocol,
    tlsMode: args.tlsMode,
    callers,
    trustDomain,
    federated: federatesWith,
  });
  const servers = [...(args.allowedServers ?? [])];
  const backends = [...(args.backends ?? [])];
  for (const [i, id] of servers.entries()) peer(`allowedServers[${i}]`, id);
  for (const [i, b] of backends.entries()) {
    c.check(isDnsLabel(b), `backends[${i}]`, b, "must name a virtual service (RFC 1123 label)");
  }

  const modes = Object.values(TlsMode) as string[];
  if (args.tlsMode !== undefined) {
    c.check(modes.includes(args.tlsMode), "tlsMode", args.tlsMode, `must be one of ${modes.join(", ")}`);
    if (args.tlsMode !== TlsMode.Disabled) {
      c.check(
        args.identity !== undefined,
        "identity",
        args.identity,
        `is required by tlsMode ${args.tlsMode}: it is the listener's certificate`,
      );
    }
  }
  checkListenerCallers(c, "allowedCallers", args.tlsMode, callers);
  if (servers.length > 0) {
    c.check(
      args.identity !== undefined,
      "identity",
      args.identity,
      "is required for client TLS to backends: it is the client certificate",
    );
    c.check(
      backends.length > 0,
      "backends",
      backends,
      "client TLS (allowedServers) needs at least one backend",
    );
  }
  const hostname = args.hostname ?? `${args.name}.${args.namespace}.svc.cluster.local`;
  c.check(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(hostname), "hostname", hostname, "must be a DNS name");
  c.done();
  return {
    name: args.name,
    namespace: args.namespace,
    podSelector: { ...selector },
    trustDomainId: trustDomainId(trustDomain as string),
    identity: args.identity,
    port,
    protocol,
    healthCheck,
    tlsMode: args.tlsMode,
    allowedCallers: callers,
    backends,
    allowedServers: servers,
    hostname,
    federatesWith,
    ...(authorization ? { authorization } : {}),
  };
}

/**
 * The App Mesh trust secret for peers with these SANs. The CRD takes one SDS secret name and no validator
 * settings, so a block whose peers all sit in one trust domain names that domain's bundle (`spiffe://<td>`,
 * which SPIRE's agent serves for the own and for each federated domain as a plain CA bundle); peers from
 * several domains need SPIRE's ALL, which the agent serves only with its SPIFFE validator config, which App
 * Mesh's Envoy was never shown to accept (appMeshFederationWarnings).
 */
function appMeshTrustSecret(n: VirtualNodeSpec, sans: readonly string[]): string {
  const domains = [...new Set(sans.map((id) => id.slice("spiffe://".length).split("/")[0]))];
  if (domains.length === 1) return `spiffe://${domains[0]}`;
  return domains.length > 1 ? ALL_BUNDLES_SECRET : n.trustDomainId;
}

/** What the appmesh data plane cannot carry of a federated node's policy, as preview warnings. */
export function appMeshFederationWarnings(n: VirtualNodeSpec): string[] {
  const warnings: string[] = [];
  for (const [what, sans] of [
    ["callers (listener validation)", n.allowedCallers],
    ["servers (backendDefaults validation)", n.allowedServers],
  ] as const) {
    if (appMeshTrustSecret(n, sans) === ALL_BUNDLES_SECRET) {
      warnings.push(
        `virtual node ${n.name}: its ${what} span several trust domains; the App Mesh VirtualNode names one SDS ` +
          `trust secret, so it names ${ALL_BUNDLES_SECRET}, which SPIRE serves only as a SPIFFE validator ` +
          "config that App Mesh's Envoy was not shown to accept; use the envoy data plane, or split the peers",
      );
    }
  }
  return warnings;
}

/** The App Mesh TLS validation block: the trust bundle over SDS (this secret) plus an exact SAN list. */
export const validation = (trustSecret: string, sans: readonly string[]) => ({
  trust: { sds: { secretName: trustSecret } },
  ...(sans.length > 0 ? { subjectAlternativeNames: { match: { exact: [...sans] } } } : {}),
});

/** A node's: its own trust domain's bundle, or with federation the secret its peers' domains need. */
const nodeValidation = (n: VirtualNodeSpec, sans: readonly string[]) =>
  validation(n.federatesWith.length > 0 ? appMeshTrustSecret(n, sans) : n.trustDomainId, sans);

export function appMeshVirtualNode(n: VirtualNodeSpec): K8sObject {
  const listener = {
    portMapping: { port: n.port, protocol: n.protocol },
    healthCheck: {
      protocol: n.protocol === ListenerProtocol.Tcp ? "tcp" : n.protocol,
      ...(n.protocol === ListenerProtocol.Tcp ? {} : { path: n.healthCheck.path }),
      healthyThreshold: n.healthCheck.healthyThreshold,
      unhealthyThreshold: n.healthCheck.unhealthyThreshold,
      timeoutMillis: n.healthCheck.timeoutMillis,
      intervalMillis: n.healthCheck.intervalMillis,
    },
    // The CRD requires a certificate on any listener tls: DISABLED without an identity is no tls block at all.
    ...(n.tlsMode && (n.tlsMode !== TlsMode.Disabled || n.identity)
      ? {
          tls: {
            mode: n.tlsMode,
            ...(n.identity ? { certificate: { sds: { secretName: n.identity } } } : {}),
            ...(n.tlsMode !== TlsMode.Disabled ? { validation: nodeValidation(n, n.allowedCallers) } : {}),
          },
        }
      : {}),
  };
  return {
    apiVersion: "appmesh.k8s.aws/v1beta2",
    kind: "VirtualNode",
    metadata: { name: n.name, namespace: n.namespace },
    spec: {
      podSelector: { matchLabels: { ...n.podSelector } },
      listeners: [listener],
      ...(n.backends.length > 0
        ? { backends: n.backends.map((name) => ({ virtualService: { virtualServiceRef: { name } } })) }
        : {}),
      ...(n.allowedServers.length > 0
        ? {
            backendDefaults: {
              clientPolicy: {
                // The walkthrough also writes `mode: STRICT` here. ClientPolicyTLS has no `mode` field in the
                // v1beta2 CRD (enforce, ports, certificate, validation), so it is left out.
                tls: {
                  enforce: true,
                  certificate: { sds: { secretName: n.identity } },
                  validation: nodeValidation(n, n.allowedServers),
                },
              },
            },
          }
        : {}),
      serviceDiscovery: { dns: { hostname: n.hostname } },
    },
  };
}
