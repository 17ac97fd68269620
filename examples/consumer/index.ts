/**
 * A consumer of the spire-mesh package: SPIRE, the demo, and one service of its own, `ledger`, meshed in one
 * component: its Deployment (the stock Node image running a small app from a ConfigMap), ServiceAccount, Service,
 * SPIRE entry and STRICT mTLS policy that admits only the demo's front. Nothing here writes a selector or a SPIFFE
 * ID: both follow from what is deployed. In your own project, `npm install spire-mesh`; here the import resolves
 * to this repository's build through the package's own name.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ColorApp, MeshWorkload, SpireEntry, SpireInstallation } from "spire-mesh";

const config = new pulumi.Config();
const provider = new k8s.Provider("cluster", {});
const providers = { kubernetes: provider };

// Its own SPIRE namespace, from which its agents' socket directory, host ports and CSI driver name derive: it
// shares a cluster with another stack (dev, in namespace spire) on defaults.
const spire = new SpireInstallation(
  "spire",
  { trustDomain: config.require("trustDomain"), clusterName: "consumer", namespace: "identity" },
  { providers },
);
const agents = new SpireEntry(
  "agents",
  { ...spire.nodeAlias, node: true, installation: spire },
  { providers },
);

const demo = new ColorApp(
  "demo",
  { installation: spire, namespace: "shop", registeredIdentities: [agents.spiffeIdValue] },
  { providers },
);

// The ledger's own namespace, held to Pod Security `restricted` (its pods get the SVID through the CSI driver).
const restricted = Object.fromEntries(
  ["enforce", "warn", "audit"].map((mode) => [`pod-security.kubernetes.io/${mode}`, "restricted"]),
);
const namespace = new k8s.core.v1.Namespace(
  "ledger",
  { metadata: { name: "ledger", labels: restricted } },
  { provider },
);
// Auto-named: a change to the code makes a new ConfigMap, whose new name rolls the pods.
const code = new k8s.core.v1.ConfigMap(
  "ledger-code",
  {
    metadata: { namespace: namespace.metadata.name },
    immutable: true,
    data: { "ledger.js": fs.readFileSync(path.join(__dirname, "app", "ledger.js"), "utf8") },
  },
  { provider },
);

const ledger = new MeshWorkload(
  "ledger",
  {
    namespace: "ledger",
    installation: spire,
    containers: [
      {
        name: "ledger",
        image: "node:20-alpine",
        command: ["node", "/app/ledger.js"],
        env: [{ name: "PORT", value: "8080" }],
        volumeMounts: [{ name: "code", mountPath: "/app", readOnly: true }],
        securityContext: { runAsUser: 1000 },
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
      },
    ],
    volumes: [{ name: "code", configMap: { name: code.metadata.name } }],
    port: 8080,
    healthCheck: { path: "/ping" },
    callers: [demo.workloads.front],
    register: config.requireBoolean("registerLedger"),
    x509SvidTtl: "30m",
    registeredIdentities: [agents.spiffeIdValue, ...demo.entries.map((e) => e.spiffeId)],
  },
  { providers, dependsOn: [namespace] },
);

export const ledgerIdentity = ledger.identity;
export const ledgerCallers = ledger.allowedCallers;
export const ledgerPodName = ledger.podNameCommand;
export const demoIdentities = demo.identities;
