import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import {
  deriveEntryId,
  type EntrySpec,
  entryCommands,
  entryPlans,
  type ResolvedEntry,
  resolveEntry,
} from "../spire/entries";
import { type EntryOutcome, entryOutcome } from "../spire/entryOutcome";
import { type EntryTarget, entryTarget } from "../spire/entryTarget";
import { runnerInterpreter } from "../spire/runners";
import { secretEnvironment } from "./commandEnvironment";
import type { SpireInstallation } from "./spireInstallation";

export interface SpireEntryArgs extends EntrySpec {
  /**
   * The installation whose server registers the entry. Default: none, then `serverExecPrefix` and `trustDomain`
   * name the server. Conflicts with `serverExecPrefix` and `trustDomain`.
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
   * Environment for the commands: KUBECONFIG (a path) and SPIRE_MESH_KUBE_CONTEXT (a context name). Kubernetes
   * access never goes into argv or into the command text kept in state. SPIRE_MESH_CLI_TIMEOUT_SECONDS (default
   * 300) bounds each CLI call: a stuck `kubectl exec` is killed and fails the step, naming the entry. Default:
   * none, kubectl's own (its default kubeconfig and current context).
   */
  readonly environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * On delete, count the entry as deleted when the server's pod or namespace is already gone, instead of failing
   * `pulumi destroy` (the entry went with the server). Default false: a missing pod usually means the wrong
   * cluster or context, and an entry left on a live server is a live identity.
   */
  readonly deleteWithoutServer?: boolean;
  /**
   * Any string: changing it re-runs the update, which re-creates the entry if it is missing from the server.
   * Drift that `pulumi refresh` cannot see (the command provider has no read) is repaired this way. Default:
   * none, only a change of the entry or of the installation's server re-asserts it.
   */
  readonly reassertOn?: pulumi.Input<string>;
}

/**
 * The entry commands' environment: the caller's, plus what must re-run their update when it changes: the
 * server's generation (a datastore that may be new) and `reassertOn`. Values reach the process as environment
 * variables, never in argv; the runners ignore these two. Always a secret (it may hold a kubeconfig).
 */
export function commandEnvironment(
  environment: pulumi.Input<Record<string, pulumi.Input<string>>> | undefined,
  installation: SpireInstallation | undefined,
  reassertOn: pulumi.Input<string> | undefined,
): pulumi.Input<Record<string, pulumi.Input<string>>> | undefined {
  const generation = installation?.serverGeneration;
  if (!generation && reassertOn === undefined) return secretEnvironment(environment);
  return secretEnvironment(
    pulumi.all([pulumi.output(environment ?? {}), generation, reassertOn]).apply(([env, g, r]) => ({
      ...env,
      ...(g !== undefined ? { SPIRE_MESH_SERVER_GENERATION: g } : {}),
      ...(r !== undefined ? { SPIRE_MESH_REASSERT_ON: r } : {}),
    })),
  );
}

/**
 * One SPIRE registration entry, kept by `spire-server entry create|update|delete` run through the server's exec
 * prefix. The entry ID is derived from project, stack and name, so creating again converges instead of
 * duplicating, and changes to selectors or TTL update the entry in place.
 *
 * `pulumi refresh` cannot see drift: @pulumi/command has no read step. `pulumi up` repairs an entry deleted
 * out of band only when the entry's inputs change (update recreates a missing entry). `npm run drift -- --stack
 * <name>` shows drift field by field and `--repair` puts the stack's view back.
 */
export class SpireEntry extends pulumi.ComponentResource {
  /** The entry's ID, known once the command registered it: a preview of a new entry shows it unknown. */
  public readonly entryId: pulumi.Output<string>;
  /** The SPIFFE ID, known once the entry is registered, like `entryId`. */
  public readonly spiffeId: pulumi.Output<string>;
  /**
   * What the last create or update did: "created", "updated" (with the fields the server's entry differed in,
   * when a create found it changed) or "unchanged". Undefined where no runner reported (a render).
   */
  public readonly outcome: pulumi.Output<EntryOutcome | undefined>;
  /** The SPIFFE ID as a plain value, for components that check identities at construction. */
  public readonly spiffeIdValue: string;
  /**
   * The SPIFFE ID this entry declares, known at preview: what policies judge a preview by (identities-registered),
   * where `spiffeId` of a new entry is still unknown.
   */
  public readonly declaredSpiffeId: pulumi.Output<string>;
  /** The argv of each lifecycle step, for review. */
  public readonly commands: pulumi.Output<Record<string, string[]>>;

  /**
   * @param name The _unique_ name of the entry within the stack; the entry ID derives from it.
   * @param args The entry and the SPIRE server that holds it.
   * @param opts A bag of options that control this resource's behavior.
   * @param planned Internal: the target and entry a meshed component's builder already resolved from `args`.
   */
  constructor(
    name: string,
    args: SpireEntryArgs,
    opts?: pulumi.ComponentResourceOptions,
    planned?: { readonly target: EntryTarget; readonly entry: ResolvedEntry },
  ) {
    const target =
      planned?.target ??
      entryTarget(`SpireEntry ${name}`, { ...args, settings: args.installation?.settings });
    const entry =
      planned?.entry ??
      resolveEntry(
        `SpireEntry ${name}`,
        deriveEntryId(pulumi.getProject(), pulumi.getStack(), name),
        args,
        target,
      );
    const commands = entryCommands(target.prefix, entry, target.socketPath);
    const plans = entryPlans(commands, entry, { deleteWithoutServer: args.deleteWithoutServer === true });
    super("spire-mesh:index:SpireEntry", name, {}, opts);
    if (!args.node && !args.selectors.some((s) => /^(k8s:sa:|k8s_psat:)/.test(s))) {
      pulumi.log.warn(
        `SpireEntry ${name}: ${entry.spiffeId} has no k8s:sa selector, so any pod of its namespace with the same ` +
          "labels and container name gets this identity; select the workload's own ServiceAccount",
        this,
      );
    }
    // A new server datastore (StatefulSet or volume replaced) changes the generation: the update that follows
    // re-creates the entry, which a plain `pulumi up` would otherwise never notice was lost.
    const environment = commandEnvironment(args.environment, args.installation, args.reassertOn);

    const registration = new command.local.Command(
      `${name}-entry`,
      {
        interpreter: runnerInterpreter("spire-entry.js"),
        create: plans.create,
        update: plans.update,
        delete: plans.delete,
        environment,
        addPreviousOutputInEnv: false,
      },
      // Waiting on the installation means the server is ready before create, and entries go before it on destroy.
      { parent: this, dependsOn: args.installation ? [args.installation] : [] },
    );

    this.spiffeIdValue = entry.spiffeId;
    // Gated on the command's ID, which resolves when its create or update has run (pulumi-eks's ServiceRole
    // waits for its attachments so): whatever reads these runs after the entry exists.
    this.entryId = registration.id.apply(() => entry.entryId);
    this.spiffeId = registration.id.apply(() => entry.spiffeId);
    // The stdout is a secret whenever the environment is (it may hold a kubeconfig); entryOutcome keeps only an
    // outcome word and SPIRE field names from it, nothing secret, so the outcome is plain.
    this.outcome = pulumi.unsecret(registration.stdout.apply(entryOutcome));
    this.commands = pulumi.output<Record<string, string[]>>({
      create: [...commands.create],
      update: [...commands.update],
      delete: [...commands.delete],
    });
    this.declaredSpiffeId = pulumi.output(entry.spiffeId);
    this.registerOutputs({
      entryId: this.entryId,
      spiffeId: this.spiffeId,
      declaredSpiffeId: this.declaredSpiffeId,
      commands: this.commands,
      outcome: this.outcome,
    });
  }
}
