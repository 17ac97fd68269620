/**
 * The resources a federated SpireInstallation adds: the Service in front of its bundle endpoint, a command that
 * prints its own bundle (exported for the peers), and one command per peer that gives the server the peer's
 * bundle with `bundle set` (first-contact trust for https_spiffe). Thin: the argv and plans are
 * spire/bundles.ts's, the checks spire/federation.ts's; the commands run bin/spire-bundle.js through
 * @pulumi/command like the entries do.
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
  /** This server's bundle in SPIFFE format (public keys and certificates only), for the peers. */
  readonly bundle: pulumi.Output<string>;
  /** The URL peers configure as this domain's bundle endpoint. */
  readonly bundleEndpointUrl: pulumi.Output<string>;
  /** The SPIFFE ID the endpoint presents (https_spiffe): the peers' `endpointSpiffeId`. */
  readonly bundleEndpointSpiffeId: pulumi.Output<string>;
}

export interface FederationResourceOptions {
  readonly parent: pulumi.Resource;
  /** The server: both commands need it Ready. */
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
  // A new datastore (new server generation) may hold a new CA: the update prints the bundle again.
  const environment = secretEnvironment(
    pulumi
      .all([pulumi.output(o.environment ?? {}), o.generation])
      .apply(([env, generation]) => ({ ...env, SPIRE_MESH_SERVER_GENERATION: generation })),
  );
  const show = new command.local.Command(
    `${name}-bundle`,
    {
      interpreter: runnerInterpreter("spire-bundle.js"),
      create: plans.show,
      update: plans.show,
      environment,
    },
    opts,
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
    // Public certificates only (the runner refuses anything else): the secrecy the environment (a kubeconfig)
    // lends the command's stdout does not apply to it, and the peers read it as a plain output.
    bundle: pulumi.unsecret(show.stdout),
    bundleEndpointUrl: lbHost.apply((host) => bundleEndpointUrl(s, host) as string),
    bundleEndpointSpiffeId: pulumi.output(serverSpiffeId(s.trustDomain)),
  };
}
