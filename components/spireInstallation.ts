import * as pulumi from "@pulumi/pulumi";
import { csiDriverManifests } from "../spire/csiDriver";
import type { SpireInstallationArgs as InstallationSettingsArgs } from "../spire/installationArgs";
import { spireManifests } from "../spire/manifests";
import { type NodeAlias, nodeAlias } from "../spire/registrations";
import { DATASTORE_SECRET_KEY } from "../spire/serverProduction";
import { type SpireSettings, serverExecPrefix, spireSettings } from "../spire/settings";
import { federationResources } from "./installationFederation";
import { kubernetesObject } from "./kubernetesObject";

export type {
  BundleEndpointArgs,
  FederatedDomainArgs,
  FederationArgs,
} from "../spire/federation";
export { peerIdentity } from "../spire/federation";
export type { ExistingSpireArgs, ResourceSettings } from "../spire/installationArgs";
export type {
  DatastoreArgs,
  TelemetryArgs,
  UpstreamAuthorityArgs,
} from "../spire/production";

/** How the federation commands (bundle show, bundle set) reach the server; as SpireEntry's. */
export interface FederationCommandArgs {
  /**
   * Environment of the bundle commands: KUBECONFIG or SPIRE_MESH_KUBECONFIG, SPIRE_MESH_KUBE_CONTEXT. Default:
   * none, kubectl's own (its default kubeconfig and current context).
   */
  readonly commandEnvironment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * On destroy, a peer's bundle counts as deleted when the server's pod or namespace is gone. Default false, as
   * SpireEntry's `deleteWithoutServer`.
   */
  readonly deleteFederationWithoutServer?: boolean;
}

/**
 * Everything SpireInstallation's constructor takes: what it installs (or adopts with `existing`), documented in
 * spire/installationArgs.ts and spire/production.ts, where settings.ts applies the defaults, and how its
 * federation commands reach the server.
 */
export interface SpireInstallationArgs extends InstallationSettingsArgs, FederationCommandArgs {}

/** The annotation EKS reads to hand a pod the ServiceAccount's IAM role (IRSA). */
const IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn";

/**
 * SPIRE 1.13 on Kubernetes: server StatefulSet (sqlite and disk keys on a volume, or several replicas on a shared
 * PostgreSQL, each with its CA key on a volume of its own, optionally under an upstream CA), agent DaemonSet with
 * k8s_psat node attestation and the k8s workload attestor, least-privilege RBAC, and the bundle ConfigMap kept
 * filled by the k8sbundle notifier. With `existing`, installs nothing and describes a running SPIRE instead.
 *
 * Arguments are plain values, not Outputs: they are checked, and rendered into SPIRE's config files, at
 * construction, so a bad value fails before any resource is registered.
 */
export class SpireInstallation extends pulumi.ComponentResource {
  /** Namespace of the SPIRE server. */
  public readonly namespace: pulumi.Output<string>;
  /** Name of the server pod that entry commands exec into. */
  public readonly serverPodName: pulumi.Output<string>;
  /** argv that runs the server CLI, e.g. `kubectl exec -i -n spire spire-server-0 -c spire-server -- /opt/spire/bin/spire-server`. */
  public readonly serverExecPrefix: pulumi.Output<string[]>;
  /** The agent's Workload API and SDS socket on every node. */
  public readonly agentSocketPath: pulumi.Output<string>;
  public readonly trustDomain: pulumi.Output<string>;
  /** `spiffe://<trust domain>`: also the SDS secret name of the trust bundle. */
  public readonly trustDomainId: pulumi.Output<string>;
  public readonly bundleConfigMapName: pulumi.Output<string>;
  /** The checked settings, for components that build on this installation (entries, virtual nodes). */
  public readonly settings: SpireSettings;
  /**
   * The agents' node alias: the SPIFFE ID every agent of this installation takes on (its workload entries'
   * parent) and the k8s_psat selectors that grant it. Plain values, for entries built at construction.
   */
  public readonly nodeAlias: NodeAlias;
  /** The agents' alias SPIFFE ID, as an output. */
  public readonly agentSpiffeId: pulumi.Output<string>;
  /**
   * Changes whenever the server's datastore may be new: with sqlite, when its StatefulSet or data volume was
   * replaced; with postgres, when `datastore.databaseId` changes (the database is the datastore: servers come and
   * go without losing entries). Entries tie their update to it, so the next `up` re-asserts them on a datastore
   * that lost them. Undefined for `existing`.
   */
  public readonly serverGeneration?: pulumi.Output<string>;
  /**
   * Federation: this server's bundle in SPIFFE format (`spire-server bundle show -format spiffe`, public keys
   * and certificates only), for a peer's `federation.federatesWith[].bundle`. Export it from the stack. Read on
   * every `up` (so it holds the roots of the latest CA rotation), never at preview, where it is unknown.
   */
  public readonly bundle?: pulumi.Output<string>;
  /** Federation: the URL peers configure as this domain's `bundleEndpointUrl`. */
  public readonly bundleEndpointUrl?: pulumi.Output<string>;
  /** Federation: the SPIFFE ID the bundle endpoint presents, the peers' `endpointSpiffeId`. */
  public readonly bundleEndpointSpiffeId?: pulumi.Output<string>;

  /**
   * @param name The _unique_ name of the installation; children are named after it.
   * @param args What to install, or which running SPIRE to adopt.
   * @param opts A bag of options that control this resource's behavior; pass the kubernetes provider here.
   */
  constructor(name: string, args: SpireInstallationArgs, opts?: pulumi.ComponentResourceOptions) {
    const settings = spireSettings(args);
    super("spire-mesh:index:SpireInstallation", name, {}, opts);
    this.settings = settings;
    this.nodeAlias = nodeAlias(settings);

    if (settings.mode === "install") {
      const installed = this.install(name, settings, args);
      this.serverGeneration = installed.generation;
      this.bundle = installed.federation?.bundle;
      this.bundleEndpointUrl = installed.federation?.bundleEndpointUrl;
      this.bundleEndpointSpiffeId = installed.federation?.bundleEndpointSpiffeId;
    }

    this.namespace = pulumi.output(settings.namespace);
    this.serverPodName = pulumi.output(settings.serverPod);
    this.serverExecPrefix = pulumi.output(serverExecPrefix(settings));
    this.agentSocketPath = pulumi.output(settings.agentSocketPath);
    this.trustDomain = pulumi.output(settings.trustDomain);
    this.trustDomainId = pulumi.output(settings.trustDomainId);
    this.bundleConfigMapName = pulumi.output(settings.bundleConfigMap);
    this.agentSpiffeId = pulumi.output(this.nodeAlias.spiffeId);
    this.registerOutputs({
      agentSpiffeId: this.agentSpiffeId,
      namespace: this.namespace,
      serverPodName: this.serverPodName,
      serverExecPrefix: this.serverExecPrefix,
      agentSocketPath: this.agentSocketPath,
      trustDomain: this.trustDomain,
      trustDomainId: this.trustDomainId,
      bundleConfigMapName: this.bundleConfigMapName,
      ...(this.bundle ? { bundle: this.bundle, bundleEndpointUrl: this.bundleEndpointUrl } : {}),
    });
  }

  /** Creates the install's objects; returns the server's generation (see serverGeneration) and federation outputs. */
  private install(name: string, settings: SpireSettings, args: FederationCommandArgs) {
    const m = spireManifests(settings);
    const make = (
      suffix: string,
      object: typeof m.namespace,
      dependsOn: pulumi.Resource[] = [],
      extra: pulumi.CustomResourceOptions = {},
    ) => kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn, ...extra });

    const namespace = make("namespace", m.namespace);
    const inNamespace = (suffix: string, object: typeof m.namespace, more: pulumi.Resource[] = []) =>
      make(suffix, object, [namespace, ...more]);

    const roleArn =
      settings.upstreamAuthority.type === "awsPca"
        ? settings.upstreamAuthority.serviceAccountRoleArn
        : undefined;
    const serverAccount = inNamespace(
      "server-account",
      roleArn === undefined
        ? m.serverServiceAccount
        : {
            ...m.serverServiceAccount,
            metadata: {
              ...m.serverServiceAccount.metadata,
              annotations: { [IRSA_ROLE_ANNOTATION]: roleArn as unknown as string },
            },
          },
    );
    const agentAccount = inNamespace("agent-account", m.agentServiceAccount);
    const bundle = inNamespace("bundle", m.bundleConfigMap);
    const bundleRole = inNamespace("server-bundle-role", m.serverBundleRole);
    const bundleRoleBinding = inNamespace("server-bundle-role-binding", m.serverBundleRoleBinding, [
      bundleRole,
    ]);
    const serverClusterRole = make("server-cluster-role", m.serverClusterRole);
    const serverClusterRoleBinding = make("server-cluster-role-binding", m.serverClusterRoleBinding, [
      serverClusterRole,
      serverAccount,
    ]);
    const agentClusterRole = make("agent-cluster-role", m.agentClusterRole);
    const agentClusterRoleBinding = make("agent-cluster-role-binding", m.agentClusterRoleBinding, [
      agentClusterRole,
      agentAccount,
    ]);
    const serverConfig = inNamespace("server-config", m.serverConfigMap);
    const service = inNamespace("server-service", m.serverService);
    inNamespace("server-network-policy", m.serverNetworkPolicy);
    inNamespace("default-deny", m.defaultDeny);
    // The CA keys and the datastore: protected by default, so neither destroy nor a replacement removes them.
    const serverData =
      m.serverData && make("server-data", m.serverData, [namespace], { protect: settings.protectData });
    // The connection string only ever travels as a secret: into the Secret's data, never into a ConfigMap.
    const datastore =
      m.datastoreSecret && settings.datastore.type === "postgres"
        ? inNamespace("server-datastore", {
            ...m.datastoreSecret,
            stringData: {
              [DATASTORE_SECRET_KEY]: pulumi.secret(
                settings.datastore.connectionString as pulumi.Input<string>,
              ) as unknown as string,
            },
          })
        : undefined;
    const replicaClaims = m.replicaClaims.map((claim, i) => inNamespace(`server-data-${i}`, claim));
    const datastoreCa = m.datastoreCaConfigMap && inNamespace("server-datastore-ca", m.datastoreCaConfigMap);
    if (m.serverDisruptionBudget) inNamespace("server-disruption-budget", m.serverDisruptionBudget);
    // The server must be able to publish the bundle and review agent tokens before it starts.
    const server = inNamespace("server", m.serverStatefulSet, [
      serverAccount,
      serverConfig,
      ...(serverData ? [serverData] : []),
      ...(datastore ? [datastore] : []),
      ...(datastoreCa ? [datastoreCa] : []),
      ...replicaClaims,
      bundle,
      bundleRoleBinding,
      serverClusterRoleBinding,
    ]);
    const agentConfig = inNamespace("agent-config", m.agentConfigMap);
    // Agents attest on start, with the bundle the server published when it became ready: a ready server first
    // avoids a crash loop on first install.
    const agent = inNamespace("agent", m.agentDaemonSet, [
      agentAccount,
      agentConfig,
      agentClusterRoleBinding,
      server,
      service,
    ]);
    if (settings.workloadApi === "csi") {
      const csi = csiDriverManifests(settings);
      make("csi-driver", csi.csiDriver);
      const csiAccount = inNamespace("csi-driver-account", csi.serviceAccount);
      // The driver shares the agent's socket directory, which the agent creates.
      inNamespace("csi-driver-node", csi.daemonSet, [csiAccount, agent]);
    }
    const uid = (r: pulumi.CustomResource) =>
      (r as unknown as { metadata: pulumi.Output<{ uid: string }> }).metadata.uid;
    const generation =
      settings.datastore.type === "postgres"
        ? pulumi
            .output(settings.datastore.databaseId as pulumi.Input<string> | undefined)
            .apply((id) => `postgres/${id ?? "unidentified"}`)
        : pulumi.all([uid(server), uid(serverData as pulumi.CustomResource)]).apply(([s, d]) => `${s}/${d}`);
    const federation = federationResources(name, settings, {
      parent: this,
      server,
      namespace,
      generation,
      environment: args.commandEnvironment,
      deleteWithoutServer: args.deleteFederationWithoutServer,
    });
    return { generation, federation };
  }
}
