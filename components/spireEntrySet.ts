import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { type EntrySetOutcome, entrySetOutcome } from "../spire/entryOutcome";
import { type EntrySetMember, entrySetCommand, entrySetCommands, resolveEntrySet } from "../spire/entrySet";
import { entryTarget } from "../spire/entryTarget";
import { runnerInterpreter } from "../spire/runners";
import { commandEnvironment } from "./spireEntry";
import type { SpireInstallation } from "./spireInstallation";

export type { EntrySetMember } from "../spire/entrySet";

export interface SpireEntrySetArgs {
  /** The entries; each one's name makes its entry ID, as a SpireEntry of that name would have. */
  readonly entries: readonly EntrySetMember[];
  /**
   * The installation whose server registers them. Default: none, then `serverExecPrefix` and `trustDomain` name
   * the server. Conflicts with `serverExecPrefix` and `trustDomain`.
   */
  readonly installation?: SpireInstallation;
  /**
   * argv that runs the server CLI, for a SPIRE this stack does not manage. Default: none, the installation's.
   * Conflicts with `installation`.
   */
  readonly serverExecPrefix?: readonly string[];
  /**
   * Trust domain of that server; required with `serverExecPrefix`. Default: none, the installation's. Conflicts
   * with `installation`.
   */
  readonly trustDomain?: string;
  /** Admin socket of that server. Default: none, SPIRE's own (the CLI is given no `-socketPath`). */
  readonly serverSocketPath?: string;
  /**
   * Environment for the commands (KUBECONFIG, SPIRE_MESH_KUBECONFIG, SPIRE_MESH_KUBE_CONTEXT,
   * SPIRE_MESH_CLI_TIMEOUT_SECONDS), as SpireEntry's. Default: none, kubectl's own (its default kubeconfig and
   * current context).
   */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * On delete, count the set as deleted when the server's pod or namespace is gone (see SpireEntry). Default:
   * false.
   */
  readonly deleteWithoutServer?: boolean;
  /**
   * Any string: changing it re-runs the update, which re-creates every entry missing from the server. Drift that
   * `pulumi refresh` cannot see (the command provider has no read) is repaired this way. Default: none, only a
   * change of the entries or of the installation's server re-asserts them.
   */
  readonly reassertOn?: pulumi.Input<string>;
}

/**
 * Many registration entries behind one command resource, kept with SPIRE's batch CLI: a create or update is one
 * `entry show` and at most one `entry create`, `entry update` and `entry delete`, each carrying every entry it
 * needs, instead of one CLI call (one `kubectl exec`) per entry. An update creates the added entries, updates the
 * changed ones and deletes the removed ones, by their deterministic IDs; entries that failed are named by SPIFFE
 * ID and fail the update, and the next `up` converges from whatever the server holds.
 */
export class SpireEntrySet extends pulumi.ComponentResource {
  /** The entries' IDs, known once the command registered them: a preview of a new set shows them unknown. */
  public readonly entryIds: pulumi.Output<string[]>;
  /** The SPIFFE IDs, known once the entries are registered, like `entryIds`. */
  public readonly spiffeIds: pulumi.Output<string[]>;
  /**
   * What the last create or update did: how many entries it created, updated, deleted and left unchanged, and
   * how many updated entries differed in each field. Undefined where no runner reported (a render).
   */
  public readonly outcome: pulumi.Output<EntrySetOutcome | undefined>;
  /** The SPIFFE IDs as plain values, for components that check identities at construction. */
  public readonly spiffeIdValues: readonly string[];
  /** The SPIFFE IDs the set declares, known at preview: what policies judge a preview by (see SpireEntry). */
  public readonly declaredSpiffeIds: pulumi.Output<string[]>;

  /**
   * @param name The _unique_ name of the set within the stack.
   * @param args The entries and the SPIRE server that holds them.
   * @param opts A bag of options that control this resource's behavior.
   */
  constructor(name: string, args: SpireEntrySetArgs, opts?: pulumi.ComponentResourceOptions) {
    const subject = `SpireEntrySet ${name}`;
    const target = entryTarget(subject, { ...args, settings: args.installation?.settings });
    const entries = resolveEntrySet(subject, pulumi.getProject(), pulumi.getStack(), args.entries, target);
    const plan = entrySetCommand(entrySetCommands(target.prefix, target.socketPath), entries, {
      deleteWithoutServer: args.deleteWithoutServer === true,
    });
    super("spire-mesh:index:SpireEntrySet", name, {}, opts);

    const registration = new command.local.Command(
      `${name}-entries`,
      {
        interpreter: runnerInterpreter("spire-entry-set.js"),
        // The plan on stdin, its hash in each step: no argument or variable grows with the set (see entrySet.ts).
        // A delete runs with the stdin of the state it deletes, so it removes exactly what that plan registered.
        stdin: plan.stdin,
        create: plan.create,
        update: plan.update,
        delete: plan.delete,
        environment: commandEnvironment(args.environment, args.installation, args.reassertOn),
        // An update deletes what the previous run registered and the new plan drops: it reads that run's stdout.
        addPreviousOutputInEnv: true,
      },
      { parent: this, dependsOn: args.installation ? [args.installation] : [] },
    );

    this.spiffeIdValues = entries.map((e) => e.spiffeId);
    // Gated on the command's ID, which resolves when its create or update has run (see SpireEntry).
    this.entryIds = registration.id.apply(() => entries.map((e) => e.entryId));
    this.spiffeIds = registration.id.apply(() => [...this.spiffeIdValues]);
    // The stdout is a secret whenever the environment is; entrySetOutcome keeps only counts and SPIRE field
    // names from it (not the entry IDs and SPIFFE IDs it also lists), nothing secret, so the outcome is plain.
    this.outcome = pulumi.unsecret(registration.stdout.apply(entrySetOutcome));
    this.declaredSpiffeIds = pulumi.output([...this.spiffeIdValues]);
    this.registerOutputs({
      entryIds: this.entryIds,
      spiffeIds: this.spiffeIds,
      declaredSpiffeIds: this.declaredSpiffeIds,
      outcome: this.outcome,
    });
  }
}
