/**
 * The stack's typed configuration. Pulumi.yaml declares every key (type, default, description); this module
 * applies those declarations, adds the rules Pulumi.yaml cannot express (choices, ranges, conflicts), and reports
 * every problem in one error.
 */
import * as pulumi from "@pulumi/pulumi";
import { type Problem, ValidationError } from "../core/validation";
import { colorAppSpec } from "../mesh/colorApp";
import { spireSettings } from "../spire/settings";
import { colorAppArgs, configKeyOf, spireArgs } from "./args";
import { choices, type Declared, declaredConfig, isInlineKubeconfig, type StackConfig } from "./configSchema";
import { maxOpenConnsPerServer } from "./database";
import { eksOnlyProblems, eksProblems } from "./eksConfig";

export type { StackConfig } from "./configSchema";
export { declaredConfig } from "./configSchema";

function typed(key: string, raw: string, decl: Declared, problems: Problem[]): unknown {
  if (decl.type === "integer") {
    if (!/^-?\d+$/.test(raw)) problems.push({ field: key, value: raw, rule: "must be an integer" });
    return Number(raw);
  }
  if (decl.type === "boolean") {
    if (raw !== "true" && raw !== "false")
      problems.push({ field: key, value: raw, rule: "must be true or false" });
    return raw === "true";
  }
  return raw;
}

/** How an error shows the value of a key set with `pulumi config set --secret`. */
export const SECRET_VALUE = "[secret]";

/**
 * Whether a config key holds a secret. The SDK knows (the engine passes the secret keys to the program) but
 * keeps the check internal; if a later SDK drops it, every value counts as secret rather than risk a leak.
 */
function isSecretConfig(fullKey: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };
  return runtime.isConfigSecret ? runtime.isConfigSecret(fullKey) : true;
}

/** Reads and checks the stack's config; throws one ValidationError naming every problem. */
export function readStackConfig(): StackConfig {
  const project = pulumi.getProject();
  const declared = declaredConfig();
  const given = pulumi.runtime.allConfig();
  const problems: Problem[] = [];
  const values: Record<string, unknown> = {};

  for (const fullKey of Object.keys(given)) {
    const [namespace, key] = fullKey.split(":");
    if (namespace === project && !(key in declared)) {
      problems.push({
        field: key,
        value: given[fullKey],
        rule: `is not a config key of ${project} (see Pulumi.yaml)`,
      });
    }
  }
  for (const [key, decl] of Object.entries(declared)) {
    const raw = given[`${project}:${key}`] ?? (decl.default === undefined ? undefined : String(decl.default));
    values[key] = raw === undefined ? undefined : typed(key, raw, decl, problems);
  }
  const config = values as unknown as StackConfig;

  for (const [key, allowed] of Object.entries(choices)) {
    const value = values[key];
    if (!allowed?.includes(value as string)) {
      problems.push({ field: key, value, rule: `must be one of ${allowed?.join(", ")}` });
    }
  }
  const conflict = (field: string, value: unknown, rule: string) => problems.push({ field, value, rule });
  if (config.cluster === "eks") {
    if (config.kubeconfig)
      conflict(
        "kubeconfig",
        "(set)",
        "conflicts with cluster=eks (the kubeconfig comes from the new cluster)",
      );
    if (config.kubeContext) conflict("kubeContext", config.kubeContext, "conflicts with cluster=eks");
    // --- eksa: the eks stack as a real AWS account takes it ---
    problems.push(...eksProblems(config));
  } else {
    problems.push(...eksOnlyProblems(config));
    // --- end eksa ---
  }
  // Its contents are credentials: a plain config value sits in Pulumi.<stack>.yaml and in the state in clear text.
  if (
    config.kubeconfig &&
    isInlineKubeconfig(config.kubeconfig) &&
    !isSecretConfig(`${project}:kubeconfig`)
  ) {
    conflict(
      "kubeconfig",
      "(inline kubeconfig, not shown)",
      "holds a kubeconfig's contents in plain text: set it with `pulumi config set --secret kubeconfig`, or give a path",
    );
  }
  const existingKeys = [
    "spireExistingNamespace",
    "spireExistingServerPod",
    "spireExistingServerContainer",
    "spireExistingAgentSocketPath",
    "spireExistingKubernetesVersion",
  ] as const;
  if (config.spire === "existing") {
    for (const key of [
      "spireExistingNamespace",
      "spireExistingServerPod",
      "spireExistingKubernetesVersion",
    ] as const) {
      if (!config[key]) conflict(key, config[key], "is required when spire=existing");
    }
  } else {
    for (const key of existingKeys) {
      if (config[key]) conflict(key, config[key], "only applies when spire=existing");
    }
  }
  if (config.spire === "existing" && config.spireLegacyNodesProxyGrant) {
    conflict(
      "spireLegacyNodesProxyGrant",
      true,
      "only applies when spire=install (it widens the agents' RBAC)",
    );
  }
  if (config.gatewayCallers && !config.gateway) {
    conflict("gatewayCallers", config.gatewayCallers, "only applies when gateway=true");
  }
  problems.push(...spireProductionProblems(config, project));
  problems.push(...datastoreVolumeImageProblems(config));
  const reported = new Set(problems.map((p) => p.field));
  problems.push(...componentProblems(config).filter((p) => !reported.has(p.field)));
  if (problems.length > 0) {
    // Errors reach preview output and PR comments: a secret value is named, never shown.
    const shown = problems.map((p) =>
      isSecretConfig(`${project}:${p.field}`) ? { ...p, value: SECRET_VALUE } : p,
    );
    throw new ValidationError(`stack ${pulumi.getStack()} config`, shown);
  }
  return config;
}

/** Rules across the production keys that no single component sees: which keys go with which choice. */
function spireProductionProblems(config: StackConfig, project: string): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: unknown, rule: string) => problems.push({ field, value, rule });
  if (config.spireReplicas > 1 && config.spireDatastore === "sqlite") {
    add(
      "spireReplicas",
      config.spireReplicas,
      "more than 1 requires spireDatastore=postgres or rds (with spireDatastore=sqlite every server would need the one sqlite volume)",
    );
  }
  if (config.spireDatastore === "rds" && config.cluster !== "eks") {
    add("spireDatastore", "rds", "requires cluster=eks (the database goes into the cluster's VPC)");
  }
  const connection = config.spirePostgresConnectionString;
  if (config.spireDatastore === "postgres") {
    if (!connection)
      add("spirePostgresConnectionString", connection, "is required when spireDatastore=postgres");
    else if (!isSecretConfig(`${project}:spirePostgresConnectionString`)) {
      add(
        "spirePostgresConnectionString",
        SECRET_VALUE,
        "must be set with `pulumi config set --secret`: it holds the database password",
      );
    }
  } else if (connection) {
    add("spirePostgresConnectionString", SECRET_VALUE, "only applies when spireDatastore=postgres");
  }
  const stray: [string, string, boolean][] = [
    ["spireUpstreamCaSecret", config.spireUpstreamCaSecret, config.spireUpstreamAuthority !== "disk"],
    ["spireAwsPcaArn", config.spireAwsPcaArn, config.spireUpstreamAuthority !== "awsPca"],
    ["spireAwsPcaRegion", config.spireAwsPcaRegion, config.spireUpstreamAuthority !== "awsPca"],
  ];
  for (const [key, value, unused] of stray) {
    if (value && unused) add(key, value, "does not apply to this spireUpstreamAuthority");
  }
  return problems;
}

// --- Datastore TLS and sizing, volumes, image pinning (issues 21 and 27) ---

/** `name[:tag]@sha256:<64 hex>`: what requireImageDigests accepts. */
const DIGEST_PINNED = /@sha256:[a-f0-9]{64}$/;

function datastoreVolumeImageProblems(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  const add = (field: string, value: unknown, rule: string) => problems.push({ field, value, rule });
  const database = config.spireDatastore === "postgres" || config.spireDatastore === "rds";
  if (config.spireDatastore === "rds" && !config.spireDatastoreCaBundle) {
    add(
      "spireDatastoreCaBundle",
      "",
      'is required with spireDatastore=rds: the servers verify RDS (sslmode=verify-full) against it; download https://truststore.pki.rds.amazonaws.com/<region>/<region>-bundle.pem and `pulumi config set spireDatastoreCaBundle -- "$(cat <region>-bundle.pem)"`',
    );
  }
  if (!database) {
    if (config.spireDatastoreCaBundle)
      add("spireDatastoreCaBundle", "(set)", "only applies when spireDatastore=postgres or rds");
    if (config.spireDatastoreMaxOpenConns)
      add(
        "spireDatastoreMaxOpenConns",
        config.spireDatastoreMaxOpenConns,
        "only applies when spireDatastore=postgres or rds",
      );
  }
  if (config.spireDatastoreMaxOpenConns < 0)
    add("spireDatastoreMaxOpenConns", config.spireDatastoreMaxOpenConns, "must be 0 (sized) or positive");
  if (
    config.spireDatastore === "rds" &&
    !config.spireDatastoreMaxOpenConns &&
    maxOpenConnsPerServer(config.spireRdsInstanceClass, config.spireReplicas) === undefined
  ) {
    add(
      "spireDatastoreMaxOpenConns",
      0,
      `cannot be sized for spireRdsInstanceClass ${config.spireRdsInstanceClass}: set it to the instance's max_connections, less a reserve, divided by spireReplicas`,
    );
  }
  if (config.spireKeepVolumes && config.cluster !== "eks")
    add("spireKeepVolumes", true, "only applies when cluster=eks (it sets the stack's gp3 class to Retain)");
  if (config.requireImageDigests) {
    const images: [string, string, boolean][] = [
      ["spireServerImage", config.spireServerImage, config.spire === "install"],
      ["spireAgentImage", config.spireAgentImage, config.spire === "install"],
      ["spireCsiDriverImage", config.spireCsiDriverImage, spireArgs(config).workloadApi === "csi"],
      ["spireCsiRegistrarImage", config.spireCsiRegistrarImage, spireArgs(config).workloadApi === "csi"],
      ["envoyImage", config.envoyImage, config.dataPlane === "envoy"],
      ["appNodeImage", config.appNodeImage, true],
    ];
    for (const [key, value, used] of images) {
      if (used && !DIGEST_PINNED.test(value))
        add(
          key,
          value,
          "must be pinned by digest (name:tag@sha256:<64 hex>) when requireImageDigests=true; empty means the default tag",
        );
    }
  }
  return problems;
}

/** A list item's field as its list's (`callers[1]` is `callers`): one config key holds the whole list. */
const listField = (field: string) => field.replace(/\[\d+\]$/, "");

/** The components' own checks, run early so one error lists config and component problems alike. */
function componentProblems(config: StackConfig): Problem[] {
  const problems: Problem[] = [];
  for (const check of [
    () => spireSettings(spireArgs(config)),
    () => colorAppSpec({ ...colorAppArgs(config), trustDomain: config.trustDomain }),
  ]) {
    try {
      check();
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      for (const p of e.problems)
        problems.push({
          ...p,
          field: configKeyOf[e.subject]?.[listField(p.field)] ?? `${e.subject} ${p.field}`,
        });
    }
  }
  const unique = new Map(problems.map((p) => [`${p.field}|${p.rule}`, p]));
  return [...unique.values()];
}
