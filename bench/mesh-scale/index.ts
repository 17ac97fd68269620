/**
 * The program bench/renderScale.ts renders at growing sizes: SPIRE, the agents' node alias, and `services`
 * meshed services on the envoy data plane, each with its own SPIRE entry. The services form a chain (svc-0 calls
 * svc-1, which calls svc-2, ...): every node then has a constant-size policy (one caller, one backend), so the
 * render time per service should stay flat as the mesh grows; anything super-linear is ours.
 * No Deployments: the sidecar's pod additions are computed either way, and the components are what we measure.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  MtlsVirtualNode,
  SpireEntry,
  SpireInstallation,
  TlsMode,
  type VirtualNodeArgs,
} from "../../components";

const config = new pulumi.Config();
const services = config.requireNumber("services");
if (!Number.isInteger(services) || services < 2)
  throw new Error(`services must be an integer >= 2, got ${services}`);
const trustDomain = config.require("trustDomain");
const td = `spiffe://${trustDomain}`;
const namespace = "bench";

const provider = new k8s.Provider("cluster", {});
const providers = { kubernetes: provider };
const spire = new SpireInstallation("spire", { trustDomain, clusterName: "bench" }, { providers });

const agents = `${td}/ns/spire/sa/spire-agent`;
new SpireEntry("agents", {
  installation: spire,
  spiffeId: agents,
  node: true,
  selectors: ["k8s_psat:cluster:bench", "k8s_psat:agent_ns:spire", "k8s_psat:agent_sa:spire-agent"],
});

const names = Array.from({ length: services }, (_, i) => `svc-${i}`);
const identity = (name: string) => `${td}/${name}`;
const entries = names.map(
  (name) =>
    new SpireEntry(name, {
      installation: spire,
      spiffeId: identity(name),
      parentId: agents,
      selectors: [`k8s:ns:${namespace}`, `k8s:sa:${name}`, "k8s:container-name:envoy"],
    }),
);
const registeredIdentities = entries.map((e) => e.spiffeIdValue);

/** A service's listener: svc-0 is the plaintext entry point (like the walkthrough's front), the rest STRICT. */
const listener = (i: number): VirtualNodeArgs => ({
  name: names[i],
  namespace,
  trustDomain,
  podSelector: { app: names[i] },
  identity: identity(names[i]),
  ...(i > 0 ? { tlsMode: TlsMode.Strict, allowedCallers: [identity(names[i - 1])] } : {}),
});

/** How svc-i reaches svc-(i+1): client TLS that accepts only the next service's identity, and one route. */
const callsNext = (i: number) => {
  const next = names[i + 1];
  if (next === undefined) return {};
  return {
    backends: [next],
    allowedServers: [identity(next)],
    egress: [
      {
        virtualService: next,
        hostname: `${next}.${namespace}.svc.cluster.local`,
        routes: [{ name: `${names[i]}-to-${next}`, header: "x_bench", value: "1", target: listener(i + 1) }],
      },
    ],
  };
};

const appNamespace = new k8s.core.v1.Namespace(namespace, { metadata: { name: namespace } }, { provider });
const nodes = names.map(
  (_, i) =>
    new MtlsVirtualNode(
      names[i],
      { ...listener(i), ...callsNext(i), registeredIdentities },
      { providers, dependsOn: [appNamespace, spire] },
    ),
);

export const serviceCount = services;
export const identities = nodes.map((n) => n.identity);
