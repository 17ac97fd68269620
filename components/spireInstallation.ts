import * as pulumi from "@pulumi/pulumi";
import { spireManifests } from "../spire/manifests";
import {
  type SpireInstallationArgs,
  type SpireSettings,
  serverExecPrefix,
  spireSettings,
} from "../spire/settings";
import { kubernetesObject } from "./kubernetesObject";

export type { ExistingSpireArgs, ResourceSettings, SpireInstallationArgs } from "../spire/settings";

/**
 * SPIRE 1.13 on Kubernetes: server StatefulSet (sqlite and disk keys on a volume), agent DaemonSet with
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
   * @param name The _unique_ name of the installation; children are named after it.
   * @param args What to install, or which running SPIRE to adopt.
   * @param opts A bag of options that control this resource's behavior; pass the kubernetes provider here.
   */
  constructor(name: string, args: SpireInstallationArgs, opts?: pulumi.ComponentResourceOptions) {
    const settings = spireSettings(args);
    super("spire-mesh:index:SpireInstallation", name, {}, opts);
    this.settings = settings;

    if (settings.mode === "install") this.install(name, settings);

    this.namespace = pulumi.output(settings.namespace);
    this.serverPodName = pulumi.output(settings.serverPod);
    this.serverExecPrefix = pulumi.output(serverExecPrefix(settings));
    this.agentSocketPath = pulumi.output(settings.agentSocketPath);
    this.trustDomain = pulumi.output(settings.trustDomain);
    this.trustDomainId = pulumi.output(settings.trustDomainId);
    this.bundleConfigMapName = pulumi.output(settings.bundleConfigMap);
    this.registerOutputs({
      namespace: this.namespace,
      serverPodName: this.serverPodName,
      serverExecPrefix: this.serverExecPrefix,
      agentSocketPath: this.agentSocketPath,
      trustDomain: this.trustDomain,
      trustDomainId: this.trustDomainId,
      bundleConfigMapName: this.bundleConfigMapName,
    });
  }

  private install(name: string, settings: SpireSettings): void {
    const m = spireManifests(settings);
    const make = (suffix: string, object: typeof m.namespace, dependsOn: pulumi.Resource[] = []) =>
      kubernetesObject(`${name}-${suffix}`, object, { parent: this, dependsOn });

    const namespace = make("namespace", m.namespace);
    const inNamespace = (suffix: string, object: typeof m.namespace, more: pulumi.Resource[] = []) =>
      make(suffix, object, [namespace, ...more]);

    const serverAccount = inNamespace("server-account", m.serverServiceAccount);
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
    // The server must be able to publish the bundle and review agent tokens before it starts.
    const server = inNamespace("server", m.serverStatefulSet, [
      serverAccount,
      serverConfig,
      bundle,
      bundleRoleBinding,
      serverClusterRoleBinding,
    ]);
    const agentConfig = inNamespace("agent-config", m.agentConfigMap);
    // Agents attest on start; a ready server and a filled bundle avoid a crash loop on first install.
    inNamespace("agent", m.agentDaemonSet, [
      agentAccount,
      agentConfig,
      agentClusterRoleBinding,
      server,
      service,
    ]);
  }
}
