/**
 * One of two stacks, one per cluster and trust domain, federated with each other: `east` runs `greeter`, and
 * `west` runs `caller`, which calls greeter over mTLS with an exact SAN check across the trust domains. Each
 * stack reads the other's bundle endpoint, bundle and service identity through a pulumi.StackReference, and
 * exports its own. The first `up` of a stack whose peer has published nothing yet installs SPIRE only (and says
 * so); see README "Multi-cluster" for the order. As in examples/consumer, `spire-mesh` resolves to this
 * repository's build (npm run build); in your project, `npm install spire-mesh`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { MeshWorkload, peerIdentity, SpireEntry, SpireInstallation } from "spire-mesh";

const config = new pulumi.Config();
const role = config.require("role");
if (role !== "server" && role !== "client")
  throw new Error(`config role must be server or client, got ${role}`);
const appNamespace = config.require("appNamespace");
const GREETER_PORT = 8080;

/** What the peer stack exported, as plain values: undefined until its first `up`. */
async function peerOutputs(ref: pulumi.StackReference) {
  const read = async (key: string) => (await ref.getOutputDetails(key)).value as string | undefined;
  const [
    trustDomain,
    bundleEndpointUrl,
    bundleEndpointSpiffeId,
    greeterIdentity,
    greeterHost,
    callerIdentity,
  ] = await Promise.all(
    [
      "trustDomain",
      "bundleEndpointUrl",
      "bundleEndpointSpiffeId",
      "greeterIdentity",
      "greeterHost",
      "callerIdentity",
    ].map(read),
  );
  if (!trustDomain || !bundleEndpointUrl || !bundleEndpointSpiffeId) return undefined;
  return {
    trustDomain,
    bundleEndpointUrl,
    bundleEndpointSpiffeId,
    greeterIdentity,
    greeterHost,
    callerIdentity,
  };
}

/** A container running one of spire-mesh's demo apps from a ConfigMap. */
function appContainer(file: string, code: k8s.core.v1.ConfigMap, env: Record<string, string>) {
  return {
    containers: [
      {
        name: "app",
        image: "node:20-alpine",
        command: ["node", `/app/${file}`],
        env: Object.entries(env).map(([name, value]) => ({ name, value })),
        volumeMounts: [{ name: "code", mountPath: "/app", readOnly: true }],
        securityContext: { runAsUser: 1000 },
        resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
      },
    ],
    volumes: [{ name: "code", configMap: { name: code.metadata.name } }],
  };
}

export = async () => {
  const provider = new k8s.Provider("cluster", {});
  const providers = { kubernetes: provider };
  const peerRef = new pulumi.StackReference("peer", { name: config.require("peerStack") });
  const peer = await peerOutputs(peerRef);

  const trustDomain = config.require("trustDomain");
  const spire = new SpireInstallation(
    "spire",
    {
      trustDomain,
      clusterName: pulumi.getStack(),
      namespace: config.require("namespace"),
      agentSocketDir: config.require("agentSocketDir"),
      agentHealthPort: config.requireNumber("agentHealthPort"),
      protectData: config.requireBoolean("protectData"),
      federation: {
        bundleEndpoint: {
          serviceType: config.require("bundleServiceType") as "LoadBalancer",
          ...(config.get("bundleAdvertisedHost")
            ? { advertisedHost: config.get("bundleAdvertisedHost") }
            : {}),
        },
        // The peer's bundle is read as an Output: `bundle set` runs again whenever the peer publishes a new one.
        federatesWith: peer
          ? [
              {
                trustDomain: peer.trustDomain,
                bundleEndpointUrl: peer.bundleEndpointUrl,
                profile: "https_spiffe",
                endpointSpiffeId: peer.bundleEndpointSpiffeId,
                bundle: peerRef.getOutput("bundle") as pulumi.Output<string>,
              },
            ]
          : [],
      },
    },
    { providers },
  );
  const agents = new SpireEntry(
    "agents",
    { ...spire.nodeAlias, node: true, installation: spire },
    { providers },
  );
  const outputs: Record<string, unknown> = {
    trustDomain,
    bundle: spire.bundle,
    bundleEndpointUrl: spire.bundleEndpointUrl,
    bundleEndpointSpiffeId: spire.bundleEndpointSpiffeId,
  };

  const namespace = new k8s.core.v1.Namespace("app", { metadata: { name: appNamespace } }, { provider });
  const appFile = role === "server" ? "color-app.js" : "front-app.js";
  const appRoot = path.join(path.dirname(require.resolve("spire-mesh/package.json")), "app");
  const code = new k8s.core.v1.ConfigMap(
    "app-code",
    {
      metadata: { namespace: namespace.metadata.name },
      immutable: true,
      data: { [appFile]: fs.readFileSync(path.join(appRoot, appFile), "utf8") },
    },
    { provider },
  );

  if (role === "server") {
    const greeterHost = config.get("greeterHost") || `greeter.${appNamespace}.svc.cluster.local`;
    outputs.greeterHost = greeterHost;
    outputs.greeterIdentity = `spiffe://${trustDomain}/ns/${appNamespace}/sa/greeter`;
    if (!peer?.callerIdentity) {
      pulumi.log.warn(
        `peer stack ${config.require("peerStack")} has published no caller yet: greeter waits; run pulumi up ` +
          "there, then here again",
      );
      return outputs;
    }
    // Read from the peer's outputs, so checked to lie in the peer's domain: it must not name one of ours.
    const callerIdentity = peerIdentity(peer.trustDomain, peer.callerIdentity, "callerIdentity");
    new MeshWorkload(
      "greeter",
      {
        namespace: appNamespace,
        installation: spire,
        ...appContainer(appFile, code, { COLOR: trustDomain }),
        port: GREETER_PORT,
        healthCheck: { path: "/ping" },
        // The caller in the other trust domain, by its exact SPIFFE ID: STRICT, validated with its own bundle.
        callers: [callerIdentity],
        // Registered by the peer stack, in its own trust domain.
        registeredIdentities: [agents.spiffeIdValue, callerIdentity],
      },
      { providers, dependsOn: [namespace] },
    );
    return outputs;
  }

  outputs.callerIdentity = `spiffe://${trustDomain}/ns/${appNamespace}/sa/caller`;
  if (!peer?.greeterIdentity || !peer.greeterHost) {
    pulumi.log.warn(
      `peer stack ${config.require("peerStack")} has published no greeter yet: caller waits; run pulumi up ` +
        "there, then here again",
    );
    return outputs;
  }
  const greeterIdentity = peerIdentity(peer.trustDomain, peer.greeterIdentity, "greeterIdentity");
  new MeshWorkload(
    "caller",
    {
      namespace: appNamespace,
      installation: spire,
      ...appContainer(appFile, code, { COLOR_HOST: `${peer.greeterHost}:${GREETER_PORT}` }),
      port: 8080,
      healthCheck: { path: "/ping" },
      backends: [{ identity: greeterIdentity, hostname: peer.greeterHost, port: GREETER_PORT }],
      registeredIdentities: [agents.spiffeIdValue, greeterIdentity],
    },
    { providers, dependsOn: [namespace] },
  );
  return outputs;
};
