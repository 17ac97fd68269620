/**
 * The environment of the SPIRE commands (entries, bundles) always travels as a secret: it may carry a kubeconfig
 * (SPIRE_MESH_KUBECONFIG holds its contents), and a plain input would be stored in the stack's state in clear
 * text, whatever the caller passed.
 */
import * as pulumi from "@pulumi/pulumi";

export type CommandEnvironment = pulumi.Input<Record<string, pulumi.Input<string>>>;

/** `environment` as a secret Output; undefined stays undefined (nothing to hide, no diff on upgrade). */
export function secretEnvironment(
  environment: CommandEnvironment | undefined,
): pulumi.Output<Record<string, string>> | undefined {
  return environment === undefined ? undefined : pulumi.secret(pulumi.output(environment));
}
