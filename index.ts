/**
 * The stack program: one environment of the walkthrough per stack (Pulumi.<stack>.yaml). `pulumi up` runs it;
 * `npm run render` runs this same file under Pulumi's mock runtime.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { ColorApp, SpireEntry, SpireInstallation } from "./components";
import { colorAppSpec, workloads } from "./mesh/colorApp";
import { walkthroughEntries } from "./spire/registrations";
import { readStackConfig } from "./stack/config";

const config = readStackConfig();

const provider = new k8s.Provider("cluster", {
  ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
  ...(config.kubeContext ? { context: config.kubeContext } : {}),
});
const providers = { kubernetes: provider };

const spire = new SpireInstallation(
  "spire",
  config.spire === "existing"
    ? {
        trustDomain: config.trustDomain,
        clusterName: config.clusterName,
        existing: {
          namespace: config.spireExistingNamespace,
          serverPod: config.spireExistingServerPod,
          serverContainer: config.spireExistingServerContainer || undefined,
          agentSocketPath: config.spireExistingAgentSocketPath || undefined,
        },
      }
    : {
        trustDomain: config.trustDomain,
        clusterName: config.clusterName,
        x509SvidTtl: config.svidTtl,
        caTtl: config.caTtl,
        storageSize: config.spireStorageSize,
        storageClassName: config.spireStorageClass || undefined,
      },
  { providers },
);

// Entry commands reach the cluster with the same kubeconfig and context as the provider, via the environment.
const entryEnvironment: Record<string, pulumi.Input<string>> = {
  ...(config.kubeconfig ? { KUBECONFIG: config.kubeconfig } : {}),
  ...(config.kubeContext ? { SPIRE_MESH_KUBE_CONTEXT: config.kubeContext } : {}),
};

const colorAppArgs = {
  namespace: config.appNamespace,
  meshName: config.meshName,
  trustDomain: config.trustDomain,
};
const demo = colorAppSpec(colorAppArgs);

const entries = Object.entries(
  walkthroughEntries({
    trustDomain: config.trustDomain,
    clusterName: config.clusterName,
    agentNamespace: spire.settings.namespace,
    agentServiceAccount: spire.settings.agentName,
    appNamespace: demo.namespace,
    workloads: workloads(demo),
    unregistered: config.registerGreen ? [] : ["colorgreen"],
    x509SvidTtl: config.svidTtl,
  }),
).map(([name, spec]) => ({
  spec,
  resource: new SpireEntry(name, { ...spec, installation: spire, environment: entryEnvironment }),
}));

const app = new ColorApp(
  "colorapp",
  { ...colorAppArgs, registeredIdentities: entries.map((e) => e.spec.spiffeId) },
  { providers, dependsOn: [spire] },
);

export const spireNamespace = spire.namespace;
export const spireServerPod = spire.serverPodName;
export const spireServerExecPrefix = spire.serverExecPrefix;
export const agentSocketPath = spire.agentSocketPath;
export const trustDomain = spire.trustDomain;
export const trustDomainId = spire.trustDomainId;
export const bundleConfigMap = spire.bundleConfigMapName;
export const registeredIdentities = entries.map((e) => e.resource.spiffeId);
export const appNamespace = app.namespace;
export const identities = app.identities;
export const showEntriesCommand = spire.serverExecPrefix.apply((prefix) =>
  [...prefix, "entry", "show"].join(" "),
);
