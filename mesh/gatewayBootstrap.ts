/**
 * The gateway's Envoy bootstrap on the envoy data plane, from the same pieces as the sidecars': the downstream
 * listener per its mode, its routes (GatewayRoute semantics: prefix and optional header, the matched prefix
 * rewritten to "/" and the host to the virtual service's name, as App Mesh does by default) resolved through
 * each virtual service's router to one upstream cluster per target, over mTLS with the gateway's SVID and an
 * exact SAN check, health checked; admin on its Unix socket and the kubelet's readiness route. Pure.
 */
import {
  adminCluster,
  bootstrapHead,
  downstreamListener,
  egressCluster,
  egressClusterFor,
  envoyPorts,
  httpConnectionManager,
  readinessListener,
  sdsCluster,
} from "./envoyBootstrap";
import type { GatewaySpec } from "./gateway";
import { EDGE_TLS_DIR } from "./gatewayListener";
import type { VirtualNodeSpec } from "./virtualNode";

const exact = (name: string, value: string) => ({ name, string_match: { exact: value } });

function routeConfig(g: GatewaySpec) {
  return {
    name: `rds_gateway_${g.listener.port}`,
    virtual_hosts: [
      {
        name: `${g.name}_${g.namespace}`,
        domains: ["*"],
        // First match wins: gateway routes in priority order, each expanded into its virtual service's router
        // routes in theirs. A request no route matches gets Envoy's 404, and reaches nothing.
        routes: g.routes.flatMap((route) => {
          const backend = g.backends.find((b) => b.virtualService === route.virtualService);
          return (backend?.routes ?? []).map((r) => {
            const headers = [
              ...(route.header ? [exact(route.header.name, route.header.value)] : []),
              ...(r.header ? [exact(r.header, r.value as string)] : []),
            ];
            return {
              name: `${route.name}-${r.name}`,
              match: { prefix: route.prefix, ...(headers.length > 0 ? { headers } : {}) },
              route: {
                cluster: egressCluster(g.meshName, r.target),
                prefix_rewrite: "/",
                host_rewrite_literal: backend?.hostname,
              },
            };
          });
        }),
      },
    ],
  };
}

export function gatewayBootstrap(g: GatewaySpec): Record<string, unknown> {
  const targets = new Map<string, VirtualNodeSpec>();
  for (const b of g.backends) for (const r of b.routes) targets.set(r.target.name, r.target);
  const self = { identity: g.identity, trustSecret: g.trustDomainId };
  const edge = g.listener.edgeTlsSecret
    ? {
        certificateChain: `${EDGE_TLS_DIR}/tls.crt`,
        privateKey: `${EDGE_TLS_DIR}/tls.key`,
        watchedDirectory: EDGE_TLS_DIR,
      }
    : undefined;
  return {
    ...bootstrapHead(`${g.name}.${g.namespace}`, g.meshName),
    static_resources: {
      listeners: [
        downstreamListener(
          g.listener.port,
          {
            mode: g.listener.tlsMode,
            identity: g.identity,
            trustSecret: g.trustDomainId,
            callers: g.listener.callers,
            alpn: [],
            ...(edge ? { edge } : {}),
          },
          (statPrefix) => httpConnectionManager(statPrefix, routeConfig(g)),
        ),
        readinessListener(envoyPorts.readiness),
      ],
      clusters: [
        sdsCluster(g.sdsSocketPath),
        adminCluster(),
        ...[...targets.values()].map((target) => egressClusterFor(g.meshName, self, target)),
      ],
    },
  };
}
