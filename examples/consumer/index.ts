/**
 * A consumer of the spire-mesh package: SPIRE, the demo, and one more service, `ledger`, with its own SPIFFE
 * identity and a STRICT mTLS policy that admits only front. In your own project, `npm install spire-mesh`; here
 * the import resolves to this repository's build through the package's own name.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ColorApp, MtlsVirtualNode, SpireEntry, SpireInstallation, TlsMode } from "spire-mesh";

const config = new pulumi.Config();
const trustDomain = config.require("trustDomain");
const td = `spiffe://${trustDomain}`;
const namespace = "ledger";
const shop = "shop";

const provider = new k8s.Provider("cluster", {});
const providers = { kubernetes: provider };

// Its own SPIRE namespace, agent socket directory and health port: it can share a cluster with another stack.
const spire = new SpireInstallation(
  "spire",
  {
    trustDomain,
    clusterName: "consumer",
    namespace: "identity",
    agentSocketDir: "/run/spire/identity",
    agentHealthPort: 9983,
  },
  { providers },
);
const agents = spire.nodeAlias.spiffeId;
const entry = (name: string, spec: Omit<ConstructorParameters<typeof SpireEntry>[1], "installation">) =>
  new SpireEntry(name, { ...spec, installation: spire });

const registered = [
  entry("agents", { ...spire.nodeAlias, node: true }),
  ...["front", "colorblue", "colorgreen", "colorred"].map((name) =>
    entry(name, {
      spiffeId: `${td}/${name}`,
      parentId: agents,
      selectors: [
        `k8s:ns:${shop}`,
        `k8s:sa:${name.replace(/^color/, "")}`,
        name === "front" ? "k8s:pod-label:app:front" : `k8s:pod-label:version:${name.slice(5)}`,
        "k8s:container-name:envoy",
      ],
    }),
  ),
];
if (config.requireBoolean("registerLedger")) {
  registered.push(
    entry("ledger", {
      spiffeId: `${td}/ledger`,
      parentId: agents,
      selectors: [`k8s:ns:${namespace}`, "k8s:sa:ledger", "k8s:container-name:envoy"],
      x509SvidTtl: "30m",
    }),
  );
}
const registeredIdentities = registered.map((e) => e.spiffeIdValue);

const demo = new ColorApp(
  "demo",
  {
    trustDomain,
    namespace: shop,
    registeredIdentities,
    sdsSocketPath: spire.settings.agentSocketPath,
    workloadApi: { csiDriver: spire.settings.csiDriverName },
  },
  { providers, dependsOn: [spire] },
);

// The extra service: its own namespace, ServiceAccount and identity; only front may call it.
const ledgerNamespace = new k8s.core.v1.Namespace("ledger", { metadata: { name: namespace } }, { provider });
const ledgerNode = new MtlsVirtualNode(
  "ledger",
  {
    name: "ledger",
    namespace,
    trustDomain,
    podSelector: { app: "ledger" },
    identity: `${td}/ledger`,
    tlsMode: TlsMode.Strict,
    allowedCallers: [`${td}/front`],
    registeredIdentities,
    sdsSocketPath: spire.settings.agentSocketPath,
    workloadApi: { csiDriver: spire.settings.csiDriverName },
  },
  { providers, dependsOn: [ledgerNamespace, demo] },
);

export const ledgerIdentity = ledgerNode.identity;
export const ledgerCallers = ledgerNode.allowedCallers;
export const demoIdentities = demo.identities;
