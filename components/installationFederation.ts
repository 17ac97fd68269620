/**
 * The resources a federated SpireInstallation adds: the Service in front of its bundle endpoint, one command per
 * peer that gives the server the peer's bundle with `bundle set` (first-contact trust for https_spiffe), and the
 * read of its own bundle (exported for the peers). Thin: the argv and plans are spire/bundles.ts's, the checks
 * spire/federation.ts's; both run bin/spire-bundle.js through @pulumi/command like the entries do.
 */
import * as command from "@pulumi/command";
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { bundleCommands, bundlePlans } from "../spire/bundles";
import { serverSpiffeId } from "../spire/federation";
import { bundleEndpointService, bundleEndpointUrl } from "../spire/federationManifests";
import { runnerInterpreter } from "../spire/runners";
import { type SpireSettings, serverExecPrefix } from "../spire/settings";
import { secretEnvironment } from "./commandEnvironment";
import { kubernetesObject } from "./kubernetesObject";

export interface FederationOutputs {
  /**
   * This server's bundle in SPIFFE format (public keys and certificates only), for the peers: read on every `up`,
   * unknown at preview.
   */
  readonly bundle: pulumi.Output<string>;
  /** The URL peers configure as this domain's bundle endpoint. */
  readonly bundleEndpointUrl: pulumi.Output<string>;
  /** The SPIFFE ID the endpoint presents (https_spiffe): the peers' `endpointSpiffeId`. */
  readonly bundleEndpointSpiffeId: pulumi.Output<string>;
}

export interface FederationResourceOptions {
  readonly parent: pulumi.Resource;
  /** The server: the peers' commands and the bundle read need it Ready. */
  readonly server: pulumi.Resource;
  readonly namespace: pulumi.Resource;
  readonly generation: pulumi.Output<string>;
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  readonly deleteWithoutServer?: boolean;
}

/** A trust domain as a resource-name suffix. */
const suffix = (trustDomain: string) => trustDomain.replace(/[^a-z0-9-]/g, "-");

export function federationResources(
  name: string,
  s: SpireSettings,
  o: FederationResourceOptions,
): FederationOutputs | undefined {
  const service = bundleEndpointService(s);
  if (!s.federation || !service) return undefined;
  const opts = { parent: o.parent, dependsOn: [o.server] };
  const endpoint = kubernetesObject(`${name}-bundle-endpoint`, service, {
    parent: o.parent,
    dependsOn: [o.namespace],
  }) as k8s.core.v1.Service;
  const plans = bundlePlans(bundleCommands(serverExecPrefix(s), s.serverSocketPath), {
    deleteWithoutServer: o.deleteWithoutServer,
  });
  // A new datastore (new server generation) holds no peer bundle: the peers' commands run again.
  const environment = secretEnvironment(
    pulumi
      .all([pulumi.output(o.environment ?? {}), o.generation])
      .apply(([env, generation]) => ({ ...env, SPIRE_MESH_SERVER_GENERATION: generation })),
  );
  for (const peer of s.federation.federatesWith) {
    if (peer.profile !== "https_spiffe" || peer.bundle === undefined) continue;
    const plan = pulumi
      .output(peer.bundle as pulumi.Input<string | undefined>)
      .apply((bundle) => plans.set(peer.trustDomain, bundle));
    new command.local.Command(
      `${name}-federation-${suffix(peer.trustDomain)}`,
      {
        interpreter: runnerInterpreter("spire-bundle.js"),
        create: plan.create,
        update: plan.create,
        delete: plan.delete,
        environment,
      },
      opts,
    );
  }
  const lbHost = endpoint.status.apply(
    (st) => st?.loadBalancer?.ingress?.[0]?.hostname ?? st?.loadBalancer?.ingress?.[0]?.ip ?? "",
  );
  return {
    bundle: currentBundle(plans.show, environment, opts),
    bundleEndpointUrl: lbHost.apply((host) => bundleEndpointUrl(s, host) as string),
    bundleEndpointSpiffeId: pulumi.output(serverSpiffeId(s.trustDomain)),
  };
}

/**
 * The bundle the server holds now, read on every `up`: a CA rotation adds a root without changing any input, so a
 * command resource, which runs on create and on input changes only, would keep exporting the bundle of its last
 * run. Not at preview, where the engine would run the invoke too: a PR preview's read-only kubeconfig has no
 * exec rights (README "preview"), so there the output is unknown, as any value the update computes.
 */
function currentBundle(
  showPlan: string,
  environment: pulumi.Output<Record<string, string>> | undefined,
  opts: pulumi.InvokeOutputOptions,
): pulumi.Output<string> {
  if (pulumi.runtime.isDryRun()) return pulumi.output(pulumi.unknown) as pulumi.Output<string>;
  const read = command.local.runOutput(
    // Logging "none": the bundle would otherwise be printed on every up; a failure still carries the output.
    { command: showPlan, interpreter: runnerInterpreter("spire-bundle.js"), environment, logging: "none" },
    opts,
  );
  // Public certificates only (the runner refuses anything else): the secrecy the environment (a kubeconfig)
  // lends the result does not apply to it, and the peers read it as a plain output.
  return pulumi.unsecret(read.stdout);
}
