/**
 * Test helpers for this pack (and for packs built on its policies): run one policy on a few resources the way
 * @pulumi/policy 1.21.0's analyzer server does, without starting it. @pulumi/policy ships no harness; this
 * mirrors server.js: the effective enforcement level (config, then the policy's, then advisory), `disabled`
 * skipping, props behind unknownCheckingProxy, an UnknownValueError turning the policy into one advisory note,
 * and the violation text `pulumi preview` prints (the description, a newline, the message).
 */

import type {
  EnforcementLevel,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import * as policySdk from "@pulumi/policy";
import type { Json } from "./support";

// 1.21.0 exports these "so policy-pack test helpers can mirror real runtime semantics" (its CHANGELOG), but its
// proxy.d.ts is empty (they are @internal there): typed here.
const { unknownCheckingProxy, UnknownValueError } = policySdk as unknown as {
  unknownCheckingProxy: <T>(props: T) => T;
  UnknownValueError: new (...args: never[]) => Error;
};

/** Props as the analyzer hands them to a policy: reading an unknown value throws UnknownValueError. */
export { unknownCheckingProxy };

/** What the engine receives for one violation. */
export interface Violation {
  readonly policy: string;
  readonly level: EnforcementLevel;
  /** As printed under the policy's line: the description, a newline, the rule's message. */
  readonly message: string;
  readonly urn?: string;
}

/** A policy's config as in a --policy-pack-config file: the level and the policy's own properties. */
export type PolicyConfig = { readonly enforcementLevel?: EnforcementLevel } & Record<string, unknown>;

export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

const PACK = "'spire-mesh@v0.1.0'";

const options: PolicyResourceOptions = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  additionalSecretOutputs: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
};

function levelOf(policy: { enforcementLevel?: EnforcementLevel }, config?: PolicyConfig): EnforcementLevel {
  const level = config?.enforcementLevel || policy.enforcementLevel || "advisory";
  return level === "remediate" ? "mandatory" : level;
}

const configOf = (config?: PolicyConfig) => () => {
  const { enforcementLevel: _, ...properties } = config ?? {};
  return properties as Json;
};

function reporter(policy: { name: string; description: string }, level: EnforcementLevel, out: Violation[]) {
  return (message: Json, urn?: string) => {
    if (typeof message === "object") {
      out.push({
        policy: message.name || policy.name,
        level: message.enforcementLevel || level,
        message: message.message || message.description || policy.description,
        urn: message.urn,
      });
    } else {
      out.push({
        policy: policy.name,
        level,
        message: `${policy.description}${message ? `\n${message}` : ""}`,
        urn,
      });
    }
  };
}

class NotApplicable extends Error {}

function caught(policy: { name: string }, e: unknown, out: Violation[]): void {
  if (e instanceof UnknownValueError) {
    out.push({
      policy: policy.name,
      level: "advisory",
      message: `can't run policy '${policy.name}' from policy pack ${PACK} during preview: ${e.message}`,
    });
  } else if (!(e instanceof NotApplicable)) {
    throw e;
  }
}

/** A resource of a stack as the engine names it: `urn:pulumi:<stack>::<project>::<parent types$>type::name`. */
export interface TestResource extends PolicyResource {
  readonly qualifiedType: string;
}

export function testResource(
  type: string,
  name: string,
  props: object,
  opts: { parent?: TestResource; stack?: string; project?: string } = {},
): TestResource {
  const qualifiedType = opts.parent ? `${opts.parent.qualifiedType}$${type}` : type;
  const urn = `urn:pulumi:${opts.stack ?? "dev"}::${opts.project ?? "spire-mesh"}::${qualifiedType}::${name}`;
  return {
    type,
    qualifiedType,
    name,
    urn,
    props: props as Record<string, Json>,
    opts: opts.parent ? { ...options, parent: opts.parent.urn } : options,
    parent: opts.parent,
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  };
}

/** Runs a resource policy on one resource's inputs. */
export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  resource: TestResource,
  config?: PolicyConfig,
): Promise<Violation[]> {
  const level = levelOf(policy, config);
  const out: Violation[] = [];
  if (level === "disabled" || !policy.validateResource) return out;
  for (const validate of [policy.validateResource].flat()) {
    const props = unknownCheckingProxy(resource.props);
    try {
      await validate(
        {
          type: resource.type,
          props,
          urn: resource.urn,
          name: resource.name,
          opts: resource.opts,
          stackTags: new Map(),
          isType: () => false,
          asType: () => undefined,
          getConfig: configOf(config),
          notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
          },
        },
        reporter(policy, level, out),
      );
    } catch (e) {
      caught(policy, e, out);
    }
  }
  return out;
}

/** Runs a stack policy on the stack's resources (their outputs). */
export async function runStackPolicy(
  policy: StackValidationPolicy,
  resources: readonly TestResource[],
  config?: PolicyConfig,
): Promise<Violation[]> {
  const level = levelOf(policy, config);
  const out: Violation[] = [];
  if (level === "disabled") return out;
  const proxied = resources.map((r) => ({ ...r, props: unknownCheckingProxy(r.props) }));
  const byUrn = new Map(proxied.map((r) => [r.urn, r]));
  for (const r of proxied) if (r.parent) r.parent = byUrn.get(r.parent.urn);
  try {
    await policy.validateStack(
      {
        resources: proxied,
        stackTags: new Map(),
        getConfig: configOf(config),
        notApplicable: (reason?: string) => {
          throw new NotApplicable(reason);
        },
      },
      reporter(policy, level, out),
    );
  } catch (e) {
    caught(policy, e, out);
  }
  return out;
}
