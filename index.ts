/**
 * The stack program: one environment of the walkthrough per stack (Pulumi.<stack>.yaml). `pulumi up` runs it;
 * `npm run render` runs this same file under Pulumi's mock runtime.
 */
import * as pulumi from "@pulumi/pulumi";
import { ColorApp, SpireEntry, SpireEntrySet, SpireInstallation } from "./components";
import { colorAppSpec } from "./mesh/colorApp";
import { verificationCommands } from "./mesh/verification";
import { appMeshController } from "./stack/appmeshController";
import { colorAppArgs, spireArgs } from "./stack/args";
import { stackCluster } from "./stack/cluster";
import { readStackConfig } from "./stack/config";
import { spireDatabase } from "./stack/database";
import { acmPcaPolicy, irsaRole } from "./stack/irsa";

const config = readStackConfig();
const cluster = stackCluster(config);
const providers = { kubernetes: cluster.provider };

// Created before SPIRE: the database it keeps entries in, and the IAM role its servers sign through ACM PCA with.
const database =
  config.spireDatastore === "rds" && cluster.eksCluster
    ? spireDatabase(config, cluster.eksCluster)
    : undefined;
const pcaRoleArn =
  config.spireUpstreamAuthority === "awsPca" && cluster.oidc
    ? irsaRole(
        "spire-server-pca",
        cluster.oidc,
        config.spireNamespace,
        "spire-server",
        {},
        {
          acmPca: acmPcaPolicy(config.spireAwsPcaArn),
        },
      )
    : undefined;
const spire = new SpireInstallation("spire", spireArgs(config, { database, pcaRoleArn }), {
  providers,
  dependsOn: cluster.storageClass ? [cluster.storageClass] : [],
});

// appmesh: the controller's CRDs and webhook must be ready before any App Mesh resource or meshed pod exists.
const controller =
  config.dataPlane === "appmesh"
    ? appMeshController({
        config,
        provider: cluster.provider,
        agentSocketPath: spire.agentSocketPath,
      })
    : undefined;

const demoArgs = colorAppArgs(config);
const demo = colorAppSpec({ ...demoArgs, trustDomain: spire.settings.trustDomain });
const batch = config.entryRegistration === "batch";
const entryOptions = {
  installation: spire,
  environment: cluster.commandEnvironment,
  deleteWithoutServer: config.spireDeleteEntriesWithoutServer,
};
// The agents' node alias: the parent of every workload entry.
const agentAlias = { name: "spire-agent", ...spire.nodeAlias, node: true };

// Each workload registers its own identity (perEntry: one command per entry, as the walkthrough's script), or
// the stack registers them all in one SpireEntrySet (batch: a handful of kubectl exec calls in all).
const app = new ColorApp(
  "colorapp",
  {
    ...demoArgs,
    unregistered: config.registerGreen ? [] : ["colorgreen"],
    register: !batch,
    registeredIdentities: [agentAlias.spiffeId],
    x509SvidTtl: config.svidTtl,
    ...entryOptions,
  },
  { providers, dependsOn: controller ? [controller] : [] },
);
if (batch) new SpireEntrySet("entries", { entries: [agentAlias, ...app.entries], ...entryOptions });
else new SpireEntry(agentAlias.name, { ...agentAlias, ...entryOptions });

const checks = verificationCommands({
  namespace: demo.namespace,
  front: demo.front,
  colors: demo.colorWorkloads,
  frontHost: `${demo.front.service}.${demo.namespace}.svc.cluster.local:${demo.port}`,
  routeHeader: demo.routeHeader,
  curlImage: "public.ecr.aws/k8m1l3p1/alpine/curler:latest",
  dataPlane: demo.dataPlane,
  ...(demo.gateway
    ? {
        gateway: {
          workload: demo.gateway,
          host: `${demo.gateway.service}.${demo.namespace}.svc.cluster.local:${demo.gateway.listener.port}`,
          prefix: demo.gateway.prefix,
          plaintext: demo.gateway.listener.tlsMode === undefined,
        },
      }
    : {}),
});

export const kubeconfig = cluster.eksCluster ? pulumi.secret(cluster.eksCluster.kubeconfigJson) : undefined;
export const spireNamespace = spire.namespace;
export const spireServerPod = spire.serverPodName;
export const spireServerExecPrefix = spire.serverExecPrefix;
export const agentSocketPath = spire.agentSocketPath;
export const trustDomain = spire.trustDomain;
export const trustDomainId = spire.trustDomainId;
export const bundleConfigMap = spire.bundleConfigMapName;
export const registeredIdentities = [agentAlias.spiffeId, ...app.entries.map((e) => e.spiffeId)];
export const showEntriesCommand = spire.serverExecPrefix.apply((prefix) =>
  [...prefix, "entry", "show"].join(" "),
);
// What SPIRE holds against what this stack declares, every field of every entry; `-- --repair` puts it back.
export const driftCheckCommand = `npm run drift -- --stack ${pulumi.getStack()}`;
export const appNamespace = app.namespace;
export const identities = app.identities;
export const dataPlane = demo.dataPlane;
export const podNameCommands = checks.podNames;
export const verify = {
  sdsClusterHealth: checks.sdsClusterHealth,
  certs: checks.certs,
  clusterHealth: checks.clusterHealth,
  handshakes: checks.handshakes,
  curl: checks.curl,
  registerGreen: checks.registerGreen,
  // With config gateway=true: requests through the ingress gateway (a plaintext listener only), and its
  // mTLS handshakes.
  ...(checks.gatewayCurl ? { gatewayCurl: checks.gatewayCurl } : {}),
  ...(checks.gatewayHandshakes ? { gatewayHandshakes: checks.gatewayHandshakes } : {}),
};
