/**
 * The local sidecar's Envoy-shaped admin answers, from its plan and state: /certs (each SVID it holds, with the
 * bundle that vouches for it) and /clusters (SDS cluster and each backend cluster's health flag). Pure.
 */
import { X509Certificate } from "node:crypto";
import type { SidecarPlan, TlsPlan } from "./bootstrapPlan";
import { type Identity, uriSans } from "./sidecarProxy";

function describe(pem?: string) {
  return (pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => {
    const c = new X509Certificate(block);
    return {
      path: "<inline>",
      serial_number: c.serialNumber.toLowerCase(),
      subject_alt_names: uriSans({ subjectaltname: c.subjectAltName }).map((uri) => ({ uri })),
      days_until_expiration: String(Math.floor((Date.parse(c.validTo) - Date.now()) / 86_400_000)),
      valid_from: new Date(c.validFrom).toISOString(),
      expiration_time: new Date(c.validTo).toISOString(),
    };
  });
}

export function certsJson(plan: SidecarPlan, identities: ReadonlyMap<string, Identity>) {
  const ingressTls = [plan.ingress.onTls?.tls, plan.ingress.onPlaintext?.tls];
  const names = new Set(
    [...ingressTls, ...plan.clusters.map((c) => c.tls)]
      .filter((t) => t)
      .map((t) => (t as TlsPlan).certificate),
  );
  const trust = (ingressTls.find((t) => t) ?? plan.clusters[0]?.tls)?.trust;
  return {
    certificates: [...names]
      .filter((n) => identities.get(n)?.chainPem)
      .map((n) => ({
        ca_cert: describe(trust ? identities.get(trust)?.caPem : undefined),
        cert_chain: describe(identities.get(n)?.chainPem),
      })),
  };
}

export function clustersText(
  plan: SidecarPlan,
  agentSocket: string,
  openStreams: number,
  health: ReadonlyMap<string, { readonly healthy: boolean }>,
): string {
  const lines = [
    `static_cluster_sds_unix_socket::${agentSocket}::cx_active::${openStreams}`,
    `static_cluster_sds_unix_socket::${agentSocket}::health_flags::healthy`,
  ];
  for (const c of plan.clusters) {
    const state = health.get(c.name);
    lines.push(`${c.name}::${c.endpoint}::health_flags::${state?.healthy ? "healthy" : "/failed_active_hc"}`);
  }
  return `${lines.join("\n")}\n`;
}
