/**
 * Evaluates the real stack program (index.ts) under Pulumi's mock runtime and records what it registers.
 * This is the only way anything here "renders": the same program `pulumi up` runs, with the engine mocked.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as runtimeSettings from "@pulumi/pulumi/runtime/settings";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { readStackConfig } from "./stackConfig";
import { memoizeStackTraces } from "./stackTraces";

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly parent?: string;
  readonly custom: boolean;
  /** URNs of explicit dependsOn edges. */
  readonly dependsOn: readonly string[];
  readonly inputs: Record<string, unknown>;
}

export interface RenderResult {
  readonly resources: readonly RecordedResource[];
  readonly outputs: Record<string, unknown>;
  readonly warnings: readonly string[];
}

export interface RenderOptions {
  /** Stack name; its Pulumi.<stack>.yaml is read from the project directory. */
  readonly stack: string;
  /** `key=value` overrides, as `pulumi config set` would make them for this run only. */
  readonly overrides?: Readonly<Record<string, string>>;
  /** `key=value` overrides set as secrets, as `pulumi config set --secret` would. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** Project directory holding Pulumi.yaml and the program. Default: this repository. */
  readonly projectDir?: string;
  /** Run as a preview (outputs the engine computes stay unknown). Default false. */
  readonly preview?: boolean;
  /**
   * What each `pulumi.StackReference` reads, by stack name (`org/project/stack` as the program names it): that
   * stack's outputs. A stack missing here reads as one with no outputs yet. Default: the project's
   * `render/stack-references.json` when it exists (see readStackReferences).
   */
  readonly stackReferences?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** The type token of `pulumi.StackReference`: the SDK reads it as a resource whose state holds `outputs`. */
const STACK_REFERENCE = "pulumi:pulumi:StackReference";

/** Cloud-only values appear as marked placeholders, never as invented real-looking values. */
export const placeholder = (what: string) => `<placeholder: ${what}, known after pulumi up>`;

function cloudState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  stackReferences: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
): Record<string, unknown> {
  if (type === STACK_REFERENCE) {
    const stack = String(inputs.name ?? name);
    return { name: stack, outputs: { ...(stackReferences[stack] ?? {}) }, secretOutputNames: [] };
  }
  const state: Record<string, unknown> = { ...inputs };
  if (type.startsWith("aws:")) {
    state.arn = placeholder(`ARN of ${type} ${name}`);
    if (type === "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
      state.url = placeholder(`OIDC issuer of ${name}`);
  }
  if (type === "aws:rds/instance:Instance") {
    Object.assign(state, {
      address: placeholder(`address of ${name}`),
      port: inputs.port ?? 5432,
      resourceId: placeholder(`resource ID of ${name}`),
    });
  }
  // What a command prints (a federated installation exports its `bundle show`) is known only once it ran.
  if (type === "command:local:Command") state.stdout = placeholder(`stdout of command ${name}`);
  if (type === "random:index/randomPassword:RandomPassword") state.result = placeholder(`password ${name}`);
  if (type === "random:index/randomId:RandomId") state.hex = placeholder(`random hex of ${name}`);
  if (type === "aws:ec2/securityGroup:SecurityGroup") state.id = placeholder(`ID of security group ${name}`);
  if (type === "aws:ec2/launchTemplate:LaunchTemplate") state.latestVersion = 1;
  if (type === "eks:index:Cluster") {
    const kubeconfig = placeholder(`kubeconfig of EKS cluster ${name}`);
    // As pulumi-eks reports them: the given VPC and subnets, else the default VPC's (unknown offline).
    const privateSubnetIds = inputs.privateSubnetIds as string[] | undefined;
    const publicSubnetIds = inputs.publicSubnetIds as string[] | undefined;
    const given = [...(publicSubnetIds ?? []), ...(privateSubnetIds ?? [])];
    Object.assign(state, {
      kubeconfig,
      kubeconfigJson: kubeconfig,
      oidcProviderArn: placeholder(`OIDC provider ARN of ${name}`),
      oidcProviderUrl: placeholder(`OIDC issuer URL of ${name}`),
      oidcIssuer: placeholder(`OIDC issuer of ${name}`),
      eksCluster: {
        name: placeholder(`EKS cluster name of ${name}`),
        vpcConfig: {
          vpcId: inputs.vpcId ?? placeholder(`VPC of ${name}`),
          clusterSecurityGroupId: placeholder(`EKS cluster security group of ${name}`),
        },
      },
      nodeSecurityGroupId: placeholder(`node security group of ${name}`),
      core: {
        subnetIds:
          given.length > 0 ? given : [placeholder(`subnet 1 of ${name}`), placeholder(`subnet 2 of ${name}`)],
        ...(privateSubnetIds ? { privateSubnetIds } : {}),
        ...(publicSubnetIds ? { publicSubnetIds } : {}),
        oidcProvider: {
          arn: placeholder(`OIDC provider ARN of ${name}`),
          url: placeholder(`OIDC URL of ${name}`),
        },
      },
    });
  }
  return state;
}

/** The partition of a region, by AWS's region-name prefixes: what `aws.getPartition` answers there. */
export function partitionOfRegion(region: string | undefined): { partition: string; dnsSuffix: string } {
  const prefixes: [string, string, string][] = [
    ["cn-", "aws-cn", "amazonaws.com.cn"],
    ["us-gov-", "aws-us-gov", "amazonaws.com"],
    ["us-isob-", "aws-iso-b", "sc2s.sgov.gov"],
    ["us-iso-", "aws-iso", "c2s.ic.gov"],
  ];
  const match = prefixes.find(([prefix]) => region?.startsWith(prefix));
  return match
    ? { partition: match[1], dnsSuffix: match[2] }
    : { partition: "aws", dnsSuffix: "amazonaws.com" };
}

/**
 * Data sources answered offline: the ones the eks stack reads, as marked placeholders (zones, add-on versions)
 * or as AWS defines them (the partition of the configured region). Any other invoke echoes its arguments.
 */
function cloudInvoke(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (token === "aws:index/getPartition:getPartition") {
    return { ...partitionOfRegion(new pulumi.Config("aws").get("region")), id: "partition" };
  }
  if (token === "aws:index/getAvailabilityZones:getAvailabilityZones") {
    const names = [1, 2, 3, 4].map((n) => placeholder(`availability zone ${n} EKS serves`));
    return { ...inputs, names, zoneIds: names, id: "zones" };
  }
  if (token === "aws:eks/getAddonVersion:getAddonVersion") {
    const which = inputs.mostRecent ? "most recent" : "default";
    return {
      ...inputs,
      version: placeholder(`${which} ${inputs.addonName} version for Kubernetes ${inputs.kubernetesVersion}`),
      id: String(inputs.addonName),
    };
  }
  if (token === "command:local:run") {
    // What a command prints (a federated installation exports its `bundle show`) is known only once it ran.
    return { ...inputs, stdout: placeholder(`stdout of ${token}`), stderr: "" };
  }
  return { ...inputs };
}

/** The SDK's runtime state (its module ships without type declarations). */
const stateStore = (): { supportsSecrets: boolean } => require("@pulumi/pulumi/runtime/state").getStore();

/** The wire form of a secret value: a map carrying the secret signature. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const REDACTED = "[secret]";

/**
 * Replaces every secret input with a marker: a render is written to files and printed, and a secret (a database
 * password in a connection string) must no more appear there than in `pulumi preview` output.
 */
function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value !== null && typeof value === "object") {
    const map = value as Record<string, unknown>;
    if (map[SECRET_SIG_KEY] === SECRET_SIG) return REDACTED;
    return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, redactSecrets(v)]));
  }
  return value;
}

/** SDK internals the recorder relies on; typed here because the SDK's declarations keep them private. */
interface Internal {
  newUrn(parent: string, type: string, name: string): string;
}
const waitForRPCs = (runtimeSettings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs;

class RecordingMonitor extends MockMonitor {
  readonly recorded: RecordedResource[] = [];
  readonly failures: string[] = [];

  // biome-ignore lint/suspicious/noExplicitAny: the gRPC request/callback types are internal to the SDK.
  override async registerResource(req: any, callback: (err: any, res: any) => void): Promise<void> {
    const recorded = {
      type: req.getType() as string,
      name: req.getName() as string,
      urn: (this as unknown as Internal).newUrn(req.getParent(), req.getType(), req.getName()),
      parent: (req.getParent() as string) || undefined,
      custom: req.getCustom() as boolean,
      dependsOn: req.getDependenciesList() as string[],
      inputs: {},
    };
    const index = this.recorded.push(recorded) - 1;
    return super.registerResource(req, (err, res) => {
      if (err) this.failures.push(`${recorded.type} ${recorded.name}: ${err.message ?? err}`);
      if (res) {
        this.recorded[index] = {
          ...recorded,
          inputs: pulumi.runtime.deserializeProperties(
            Struct.fromJavaScript(redactSecrets(req.getObject().toJavaScript()) as Record<string, never>),
          ) as Record<string, unknown>,
        };
      }
      callback(err, res);
    });
  }
}

async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    return resolve(await new Promise((done) => (value as pulumi.Output<unknown>).apply(done)));
  }
  if (value instanceof Promise) return resolve(await value);
  if (pulumi.Resource.isInstance(value))
    return `<resource ${(value as { constructor: { name: string } }).constructor.name}>`;
  if (Array.isArray(value)) return Promise.all(value.map(resolve));
  if (value !== null && typeof value === "object") {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolve(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

const repoRoot = path.resolve(__dirname, "..");

/** A function the program invoked (`local.runOutput`, ...); `args` plain, as the SDK unwraps secrets to send them. */
export interface RecordedInvoke {
  readonly token: string;
  readonly args: Record<string, unknown>;
}

export interface Recording<T> {
  readonly resources: readonly RecordedResource[];
  readonly invokes: readonly RecordedInvoke[];
  readonly warnings: readonly string[];
  readonly value: T;
}

/**
 * Runs `body` against a fresh recording mock monitor and waits for every registration to finish. Runs must not
 * overlap: Pulumi's mock monitor is process-wide.
 */
export async function record<T>(
  scope: {
    project: string;
    stack: string;
    preview?: boolean;
    stackReferences?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  },
  body: () => T | Promise<T>,
): Promise<Recording<T>> {
  // The SDK formats a stack per resource and per tracked promise; remembering each frame's mapped text keeps
  // source-mapping off the render's critical path (render/stackTraces.ts).
  memoizeStackTraces();
  const warnings: string[] = [];
  const invokes: RecordedInvoke[] = [];
  const monitor = new RecordingMonitor({
    newResource: (args) => ({
      id: args.custom ? `${args.name}-id` : undefined,
      state: cloudState(args.type, args.name, args.inputs, scope.stackReferences ?? {}),
    }),
    call: (args) => {
      invokes.push({ token: args.token, args: { ...args.inputs } });
      return cloudInvoke(args.token, args.inputs);
    },
  });
  // setMocks sets the runtime's feature flags; our monitor then replaces its plain one to record parents and edges.
  await pulumi.runtime.setMocks(monitor.mocks, scope.project, scope.stack, scope.preview ?? false);
  runtimeSettings.setMockOptions(monitor, scope.project, scope.stack, scope.preview ?? false);
  // setMockOptions turns secret support off again; on, secret inputs travel marked and the recorder redacts them.
  stateStore().supportsSecrets = true;
  const restoreWarn = captureWarnings(warnings);
  try {
    const value = await body();
    await waitForRPCs();
    if (monitor.failures.length > 0) throw new Error(`registration failed:\n${monitor.failures.join("\n")}`);
    return { resources: monitor.recorded, invokes, warnings, value };
  } finally {
    restoreWarn();
  }
}

/** Runs the stack program once, as `pulumi up` would, and resolves its exports (the stack outputs). */
export async function renderProgram(options: RenderOptions): Promise<RenderResult> {
  const projectDir = options.projectDir ?? repoRoot;
  const { project, config, secretKeys, main } = readStackConfig(
    projectDir,
    options.stack,
    options.overrides ?? {},
    options.secrets ?? {},
  );
  const stackReferences = options.stackReferences ?? readStackReferences(projectDir);
  const scope = { project, stack: options.stack, preview: options.preview, stackReferences };
  const recording = await record(scope, async () => {
    pulumi.runtime.setAllConfig(config, secretKeys);
    const programPath = require.resolve(path.resolve(projectDir, main));
    delete require.cache[programPath];
    const program = require(programPath) as
      | Record<string, unknown>
      | (() => Promise<Record<string, unknown>>);
    // `export = async () => ({...})`, as Pulumi runs it: the outputs are what the function resolves to.
    const exported = typeof program === "function" ? await program() : { ...program };
    return (await resolve(exported)) as Record<string, unknown>;
  });
  return { resources: recording.resources, outputs: recording.value, warnings: recording.warnings };
}

/**
 * The outputs StackReferences read in an offline render, from `<project>/render/stack-references.json`:
 * `{ "<org/project/stack>": "<file with that stack's outputs, relative to it>" }`, each file a JSON object as
 * `pulumi stack output --json` prints it. No such file: every referenced stack reads as having no outputs.
 */
export function readStackReferences(projectDir: string): Record<string, Record<string, unknown>> {
  const index = path.join(projectDir, "render", "stack-references.json");
  if (!fs.existsSync(index)) return {};
  const files = JSON.parse(fs.readFileSync(index, "utf8")) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(files).map(([stack, file]) => [
      stack,
      JSON.parse(fs.readFileSync(path.resolve(path.dirname(index), file), "utf8")) as Record<string, unknown>,
    ]),
  );
}

/** pulumi.log.warn goes to the engine; under mocks we keep the messages so the render can show them. */
function captureWarnings(into: string[]): () => void {
  const original = pulumi.log.warn;
  (pulumi.log as { warn: typeof pulumi.log.warn }).warn = (msg: string) => {
    into.push(msg);
    return Promise.resolve();
  };
  return () => {
    (pulumi.log as { warn: typeof pulumi.log.warn }).warn = original;
  };
}
