/**
 * The `spire-server bundle` argv that bootstraps and publishes federation trust, and the JSON plans
 * bin/spire-bundle.js runs for SpireInstallation's bundle commands (as entries.ts does for entries). Kept apart
 * from federation.ts, which checks the arguments and renders server.conf, because tests and the benchmark run
 * these plans against a local server without any installation arguments. Pure: no Pulumi, no processes.
 *
 * Facts checked on spire-server 1.13.3 (tests/local/federation.test.ts, tests/spire/entrySet.test.ts): `bundle
 * set` reads the bundle from stdin when `-path` is absent and answers with `results[].status` (code 3 for the
 * server's own trust domain, exit status 0); an entry that federates with a domain is refused ("unable to find
 * federated bundle") until that domain's bundle has been set (its federates_with block in server.conf is not
 * enough); and `bundle delete` is refused while any entry still federates with the domain.
 */
import { trustDomainId } from "./spiffeId";

export interface BundleCommands {
  /** Prints this server's own bundle in SPIFFE format (public keys and certificates). */
  readonly show: readonly string[];
  /** Lists the peers' bundles the server holds (JSON, with sequence numbers), to decide whether to set one. */
  readonly list: readonly string[];
  /** Gives the server a peer's bundle, read from stdin. */
  set(trustDomain: string): readonly string[];
  /** Removes a peer's bundle; refused while entries federate with it. */
  delete(trustDomain: string): readonly string[];
}

/** argv for `spire-server bundle ...`; `prefix` runs the server binary (locally or through kubectl exec). */
export function bundleCommands(prefix: readonly string[], socketPath?: string): BundleCommands {
  const socket = socketPath ? ["-socketPath", socketPath] : [];
  return {
    // -format applies to the pretty output only, which for spiffe is the JWKS itself.
    show: [...prefix, "bundle", "show", ...socket, "-format", "spiffe"],
    // Every federated bundle: `-id` would answer a missing one with an error, not an empty list.
    list: [...prefix, "bundle", "list", ...socket, "-output", "json"],
    // No -path: the CLI then reads stdin, so the bundle never becomes a file or an argument.
    set: (td) => [
      ...prefix,
      "bundle",
      "set",
      ...socket,
      "-format",
      "spiffe",
      "-id",
      trustDomainId(td),
      "-output",
      "json",
    ],
    delete: (td) => [...prefix, "bundle", "delete", ...socket, "-id", trustDomainId(td), "-output", "json"],
  };
}

export interface BundlePlans {
  /** Prints the own bundle (the installation's `bundle` output). */
  readonly show: string;
  /**
   * Bootstraps the server with the peer's bundle: skipped when the server already holds one at least as new,
   * refused when every root of `bundle` has expired; `bundle` undefined fails with what to run first.
   */
  set(trustDomain: string, bundle: string | undefined): { create: string; delete: string };
}

/** The JSON plans bin/spire-bundle.js executes (see that file for the semantics). */
export function bundlePlans(
  commands: BundleCommands,
  options: { readonly deleteWithoutServer?: boolean } = {},
): BundlePlans {
  return {
    show: JSON.stringify({ step: "show", show: commands.show }),
    set: (trustDomain, bundle) => ({
      create: JSON.stringify({
        step: "set",
        trustDomain,
        list: commands.list,
        set: commands.set(trustDomain),
        bundle,
      }),
      delete: JSON.stringify({
        step: "delete",
        trustDomain,
        delete: commands.delete(trustDomain),
        ...(options.deleteWithoutServer ? { deleteWithoutServer: true } : {}),
      }),
    }),
  };
}
