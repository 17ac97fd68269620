/**
 * The mesh bench/renderScale.ts and bench/meshScale.ts build at growing sizes: SPIRE, the agents' node alias, and
 * `services` MeshWorkloads in `namespaces` namespaces, wired by the seeded graph of ./graph.ts (1 to
 * `maxBackends` backends each, http/grpc/tcp listeners, one MtlsVirtualGateway per namespace in front of about a
 * tenth of the services). Every workload's callers are exact, so each listener with callers is STRICT.
 * `entryRegistration`: `perEntry` gives each member its SpireEntry, `batch` registers all in one SpireEntrySet.
 * `revision` is stamped on svc-0's pods only: changing it is the one-service change the bench measures.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  type EntrySetMember,
  ListenerProtocol,
  MeshWorkload,
  MtlsVirtualGateway,
  SpireEntry,
  SpireEntrySet,
  SpireInstallation,
} from "../../components";
import { checkGraphConfig, meshGraph, type Protocol } from "./graph";

const config = new pulumi.Config();
const graph = meshGraph(
  checkGraphConfig({
    services: config.get("services"),
    namespaces: config.get("namespaces"),
    seed: config.get("seed"),
    maxBackends: config.get("maxBackends"),
  }),
);
const registration = config.get("entryRegistration") ?? "perEntry";
if (registration !== "perEntry" && registration !== "batch")
  throw new Error(`entryRegistration = ${JSON.stringify(registration)}: must be perEntry or batch`);
const batch = registration === "batch";
const trustDomain = config.require("trustDomain");
const revision = config.get("revision");

const provider = new k8s.Provider("cluster", {});
const providers = { kubernetes: provider };
// A throwaway bench stack: its data volume is not protected, so each run's destroy completes.
const spire = new SpireInstallation(
  "spire",
  { trustDomain, clusterName: "bench", protectData: false },
  { providers },
);

const identityOf = (namespace: string, account: string) =>
  `spiffe://${trustDomain}/ns/${namespace}/sa/${account}`;
const gatewayName = (namespace: string) => `gw-${namespace}`;
const gatewayIdentity = (namespace: string) => identityOf(namespace, gatewayName(namespace));
const registeredIdentities = [
  spire.nodeAlias.spiffeId,
  ...graph.services.map((s) => identityOf(s.namespace, s.name)),
  ...graph.gateways.map((g) => gatewayIdentity(g.namespace)),
];
const protocols: Record<Protocol, ListenerProtocol> = {
  http: ListenerProtocol.Http,
  grpc: ListenerProtocol.Grpc,
  tcp: ListenerProtocol.Tcp,
};

const namespaces = [...new Set(graph.services.map((s) => s.namespace))].map(
  (name) => new k8s.core.v1.Namespace(name, { metadata: { name } }, { provider }),
);
const member = { installation: spire, register: !batch, registeredIdentities };
const opts = { providers, dependsOn: [...namespaces, spire] };

// In index order: every backend has a lower index, so it exists before its callers.
const workloads: MeshWorkload[] = [];
for (const s of graph.services) {
  const callers = [
    ...s.callers.map((i) => {
      const caller = graph.services[i];
      return {
        identity: identityOf(caller.namespace, caller.name),
        pods: { namespace: caller.namespace, podLabels: { app: caller.name } },
      };
    }),
    ...(s.gated ? [gatewayIdentity(s.namespace)] : []),
  ];
  workloads.push(
    new MeshWorkload(
      s.name,
      {
        ...member,
        namespace: s.namespace,
        containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }],
        protocol: protocols[s.protocol],
        callers,
        backends: s.backends.map((i) => workloads[i]),
        ...(s.index === 0 && revision !== undefined
          ? { podAnnotations: { "bench/revision": revision } }
          : {}),
      },
      opts,
    ),
  );
}

const gateways = graph.gateways.map(
  (g) =>
    new MtlsVirtualGateway(
      gatewayName(g.namespace),
      {
        ...member,
        namespace: g.namespace,
        backends: g.targets.map((i) => workloads[i]),
        routes: g.targets.map((i) => ({
          prefix: `/${graph.services[i].name}`,
          virtualService: graph.services[i].name,
        })),
      },
      opts,
    ),
);

const members: EntrySetMember[] = [
  { name: "agents", ...spire.nodeAlias, node: true },
  ...workloads.map((w) => w.entry),
  ...gateways.map((g) => g.entry),
];
// The agents' alias always; in batch mode every member joins it in one SpireEntrySet.
if (batch) new SpireEntrySet("entries", { installation: spire, entries: members });
else new SpireEntry("agents", { ...spire.nodeAlias, node: true, installation: spire });

export const serviceCount = graph.services.length;
export const gatewayCount = gateways.length;
/** What the SPIRE server must hold after an up: the agents' alias, one entry per workload and per gateway. */
export const expectedEntries = members.length;
export const identities = workloads.map((w) => w.identity);
