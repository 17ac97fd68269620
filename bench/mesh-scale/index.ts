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
  type EntrySetMember,
  MtlsVirtualNode,
  SpireEntry,
  SpireEntrySet,
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
// A throwaway bench stack: its data volume is not protected, so each run's destroy completes.
const spire = new SpireInstallation(
  "spire",
  { trustDomain, clusterName: "bench", protectData: false },
  { providers },
);

const agents = spire.nodeAlias.spiffeId;
const names = Array.from({ length: services }, (_, i) => `svc-${i}`);
const identity = (name: string) => `${td}/${name}`;
const members: EntrySetMember[] = [
  { name: "agents", ...spire.nodeAlias, node: true },
  ...names.map((name) => ({
    name,
    spiffeId: identity(name),
    parentId: agents,
    selectors: [`k8s:ns:${namespace}`, `k8s:sa:${name}`, "k8s:container-name:envoy"],
  })),
];
// perEntry: a SpireEntry (one command) per entry; batch: one SpireEntrySet for all of them.
if (config.get("entryRegistration") === "batch")
  new SpireEntrySet("entries", { installation: spire, entries: members });
else for (const { name, ...entry } of members) new SpireEntry(name, { ...entry, installation: spire });
const registeredIdentities = members.map((m) => m.spiffeId);

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
