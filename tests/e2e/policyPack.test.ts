/**
 * The spire-mesh policy pack under the real engine: `pulumi preview` with CLI 3.276.0 against a loopback cluster,
 * the pack launched by the engine and answering over gRPC, enforcement decided by the engine. The old Node.js
 * language host built here cannot launch a pack directory, so the pack is given as its launcher executable
 * (policy/run-policy-pack), the launch path ../shared/reference/real-engine.md section 4 records; current CLIs take
 * the directory (docs/policies.md).
 *
 * The dev stack passes with green registered and with the walkthrough's pack config, and fails on green without
 * it: identities-registered turns the walkthrough's warning into a gate. A small fixture program
 * (tests/fixtures/policy-project) in prod stacks breaks one mandatory rule per `break` value, and the preview
 * fails on exactly that rule, images-pinned (advisory) aside.
 * All previews share one cluster and run a few at a time.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { initStack, type PulumiResult, type PulumiStack, pulumi, pulumiOk } from "../../local/pulumiCli";
import {
  HOST_ACCESS,
  IDENTITIES_REGISTERED,
  MTLS_STRICT,
  NO_KEY_MATERIAL,
  PINNED_IMAGES,
  policies,
  RBAC_LEAST_PRIVILEGE,
  SVID_LIFETIMES,
} from "../../policy/policies";
import { type E2eCluster, startE2eCluster } from "./support";

const REPO_ROOT = path.resolve(__dirname, "../..");
const PACK_LAUNCHER = path.join(REPO_ROOT, "policy", "run-policy-pack");
const WALKTHROUGH_CONFIG = path.join(REPO_ROOT, "policy", "walkthrough.json");
const FIXTURE = path.join(REPO_ROOT, "tests", "fixtures", "policy-project");
/** The fixture's stand-in agent is a plain DaemonSet, not a SpireInstallation's: allowed by namespace and name. */
const FIXTURE_CONFIG = path.join(FIXTURE, "policy-config.json");
const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const description = (name: string) => policies.find((p) => p.name === name)?.description;

/** One violation as `pulumi preview` prints it under "Policies:". */
interface Shown {
  readonly level: string;
  readonly policy: string;
  /** "type: name" of the resource it is reported on. */
  readonly resource: string;
  /** The lines under it: the policy's description, then the rule's message. */
  readonly lines: readonly string[];
}

/** The pack's line under "Policies:" and its violations, from the preview's text output. */
function policiesShown(stdout: string): { pack: string; violations: Shown[] } {
  const lines = stdout.split("\n");
  const start = lines.indexOf("Policies:");
  assert.ok(start >= 0, `no "Policies:" section in:\n${stdout}`);
  const pack = lines[start + 1].trim();
  const violations: (Shown & { lines: string[] })[] = [];
  for (const line of lines.slice(start + 2)) {
    const head = /^ {8}- \[(\w+)\] {2}(\S+) {2}\((.*)\)$/.exec(line);
    if (head) violations.push({ level: head[1], policy: head[2], resource: head[3], lines: [] });
    else if (line.startsWith(" ".repeat(10)) && violations.length > 0)
      violations[violations.length - 1].lines.push(line.trim());
    else break;
  }
  return { pack, violations };
}

/** The violations of one level, as "policy (resource): message", with each description checked on the way. */
function shown(result: PulumiResult, level: string): string[] {
  return policiesShown(result.stdout)
    .violations.filter((v) => v.level === level)
    .map((v) => {
      assert.equal(v.lines[0], description(v.policy), `description of ${v.policy}`);
      assert.equal(v.lines.length, 2, `one message line for ${v.policy}: ${v.lines.join(" | ")}`);
      // ConfigMaps are named by their content hash: compare what the message says, not the hash.
      return `${v.policy} (${v.resource}): ${v.lines[1]}`.replace(/(-envoy)-[0-9a-f]{10}:/g, "$1:");
    });
}

/** The advisory the fixture always has: images-pinned is advisory, so it never fails a preview. */
const FIXTURE_ADVISORY = [
  `${PINNED_IMAGES} (kubernetes:apps/v1:Deployment: api): Deployment policy-fixture/api: spec.template.spec.` +
    'containers[0] (app) image = "node:latest" uses the latest tag: pin a version tag or a digest',
];

interface Case {
  readonly project: string;
  readonly stack: string;
  readonly configFrom?: string;
  readonly config?: Readonly<Record<string, string>>;
  readonly packConfig?: string;
}

/** A fixture stack with one rule broken on purpose (its `break` config), under the fixture's pack config. */
const fixtureCase = (stack: string, broken: string): Case => ({
  project: FIXTURE,
  stack,
  config: { break: broken },
  packConfig: FIXTURE_CONFIG,
});

const CASES: Readonly<Record<string, Case>> = {
  dev: { project: REPO_ROOT, stack: "dev" },
  devGreen: {
    project: REPO_ROOT,
    stack: "dev-green",
    configFrom: path.join(REPO_ROOT, "Pulumi.dev.yaml"),
    config: { registerGreen: "true" },
  },
  devWalkthrough: {
    project: REPO_ROOT,
    stack: "dev-walkthrough",
    configFrom: path.join(REPO_ROOT, "Pulumi.dev.yaml"),
    packConfig: WALKTHROUGH_CONFIG,
  },
  permissive: fixtureCase("prod-permissive", "permissive"),
  hostAccess: fixtureCase("prod-host-access", "hostAccess"),
  lifetimes: fixtureCase("prod-lifetimes", "lifetimes"),
  keyMaterial: fixtureCase("prod-key-material", "keyMaterial"),
  rbacWildcard: fixtureCase("prod-rbac", "rbacWildcard"),
};

/** Previews at a time: each runs the CLI, a language host, the Kubernetes provider and the pack. */
const PARALLEL = 3;

describe("spire-mesh policy pack under the real engine", function () {
  this.timeout(240_000);
  let cluster: E2eCluster;
  const results = new Map<string, PulumiResult>();

  async function preview(name: string, c: Case): Promise<void> {
    const stack: PulumiStack = initStack({
      projectDir: c.project,
      stack: c.stack,
      workDir: path.join(cluster.workDir, "pulumi"),
      kubeconfig: cluster.state.kubeconfig,
      configFrom: c.configFrom,
    });
    // The fixture has no tsconfig of its own: skip its type check (tsc checks it with the repository's tests).
    const run =
      c.project === FIXTURE
        ? { ...stack, env: { ...stack.env, PULUMI_NODEJS_TRANSPILE_ONLY: "true" } }
        : stack;
    for (const [key, value] of Object.entries(c.config ?? {}))
      await pulumiOk(run, ["config", "set", key, value]);
    const packConfig = c.packConfig ? ["--policy-pack-config", c.packConfig] : [];
    results.set(name, await pulumi(run, ["preview", "--policy-pack", PACK_LAUNCHER, ...packConfig]));
  }

  const result = (name: string): PulumiResult => {
    const r = results.get(name);
    assert.ok(r, `no preview ran for ${name}`);
    return r;
  };
  const passes = (name: string, mark: string) => {
    const r = result(name);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(policiesShown(r.stdout).pack, `${mark} spire-mesh@v0.1.0 (local: ${PACK_LAUNCHER})`);
    assert.deepEqual(shown(r, "mandatory"), []);
  };
  const fails = (name: string) => {
    const r = result(name);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(policiesShown(r.stdout).pack, `❌ spire-mesh@v0.1.0 (local: ${PACK_LAUNCHER})`);
    assert.match(r.stdout, /error: preview failed/);
  };
  /**
   * A fixture stack with one thing broken fails on exactly that rule, and shows only the fixture's advisory
   * besides: the rest of the fixture breaks no mandatory rule (each case checks it again), so the break alone
   * fails the preview.
   */
  const failsOnlyOn = (name: string, mandatory: string[]) => {
    fails(name);
    assert.deepEqual(shown(result(name), "mandatory"), mandatory);
    assert.deepEqual(shown(result(name), "advisory"), FIXTURE_ADVISORY);
  };

  before(async () => {
    cluster = await startE2eCluster("spm-policy-");
    const queue = Object.entries(CASES);
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await preview(...next);
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
  });

  after(async () => {
    await cluster?.stop();
  });

  const FRONT_PLAINTEXT =
    `${MTLS_STRICT} (kubernetes:core/v1:ConfigMap: colorapp-front-envoy-bootstrap): ConfigMap ` +
    "howto-k8s-mtls-sds-based/front-envoy: Envoy node front (data.bootstrap.json), listener " +
    "lds_ingress_0.0.0.0_15000 = plaintext (no TLS transport socket): meshed listeners must be STRICT mTLS";
  const REGISTER = "register it with a SpireEntry or SpireEntrySet, or list it in external";

  it("dev, green registered: passes; front's plaintext ingress is advisory outside prod*", () => {
    passes("devGreen", "⚠️");
    assert.deepEqual(shown(result("devGreen"), "advisory"), [FRONT_PLAINTEXT]);
  });

  it("dev with the walkthrough's pack config (green unregistered on purpose, front the edge): passes clean", () => {
    passes("devWalkthrough", "✅");
    assert.deepEqual(policiesShown(result("devWalkthrough").stdout).violations, []);
  });

  it(`dev as committed (registerGreen=false): ${IDENTITIES_REGISTERED} fails the preview, naming node and identity`, () => {
    fails("dev");
    assert.deepEqual(shown(result("dev"), "mandatory"), [
      `${IDENTITIES_REGISTERED} (spire-mesh:index:MtlsVirtualNode: colorapp-front): MtlsVirtualNode front: ` +
        `allowed server ${TD}/colorgreen has no SPIRE entry in this stack: ${REGISTER}`,
      `${IDENTITIES_REGISTERED} (spire-mesh:index:MtlsVirtualNode: colorapp-green): MtlsVirtualNode green: ` +
        `identity ${TD}/colorgreen has no SPIRE entry in this stack: ${REGISTER}`,
    ]);
    assert.deepEqual(shown(result("dev"), "advisory"), [FRONT_PLAINTEXT]);
  });

  it(`break=permissive: ${MTLS_STRICT} is mandatory in prod* and fails the preview`, () => {
    failsOnlyOn("permissive", [
      `${MTLS_STRICT} (kubernetes:core/v1:ConfigMap: api-envoy-bootstrap): ConfigMap policy-fixture/api-envoy: ` +
        "Envoy node api (data.bootstrap.json), listener lds_ingress_0.0.0.0_15000 = PERMISSIVE (a plaintext " +
        "raw_buffer filter chain next to the TLS one): meshed listeners must be STRICT mTLS",
    ]);
  });

  it(`break=hostAccess: ${HOST_ACCESS} fails the preview`, () => {
    const rule = "host access is reserved to allowedWorkloads (DaemonSet/policy-fixture/spire-agent)";
    failsOnlyOn("hostAccess", [
      `${HOST_ACCESS} (kubernetes:apps/v1:DaemonSet: debugger): DaemonSet policy-fixture/node-debugger: ` +
        `spec.template.spec.hostPID = true: ${rule}`,
      `${HOST_ACCESS} (kubernetes:apps/v1:DaemonSet: debugger): DaemonSet policy-fixture/node-debugger: ` +
        `spec.template.spec.containers[0] (shell) securityContext.privileged = true: ${rule}`,
    ]);
  });

  it(`break=lifetimes: ${SVID_LIFETIMES} fails the preview`, () => {
    failsOnlyOn("lifetimes", [
      `${SVID_LIFETIMES} (spire-mesh:index:SpireEntry: api): SpireEntry api: -x509SVIDTTL = 120 (2m): outside ` +
        "the SVID lifetime bounds 5m-24h (minSvidTtl-maxSvidTtl)",
    ]);
  });

  it(`break=keyMaterial: ${NO_KEY_MATERIAL} fails the preview, for the Secret and for the stack output`, () => {
    const why =
      "private keys must not be written by the stack; let SPIRE issue them and deliver them over SDS";
    failsOnlyOn("keyMaterial", [
      `${NO_KEY_MATERIAL} (kubernetes:core/v1:Secret: tls): Secret policy-fixture/api-tls: data.tls.key holds a ` +
        `PEM private key (BEGIN PRIVATE KEY): ${why}`,
      `${NO_KEY_MATERIAL} (pulumi:pulumi:Stack: policy-rules-prod-key-material): stack outputs: debugKey holds a ` +
        `PEM private key (BEGIN PRIVATE KEY): ${why}`,
    ]);
    assert.doesNotMatch(result("keyMaterial").stdout, /bm90IGEga2V5/, "the key itself is never printed");
  });

  it(`break=rbacWildcard: ${RBAC_LEAST_PRIVILEGE} fails the preview`, () => {
    const wildcard = (field: string, what: string) =>
      `${RBAC_LEAST_PRIVILEGE} (kubernetes:rbac.authorization.k8s.io/v1:ClusterRole: reader): ClusterRole ` +
      `policy-fixture-reader: rules[0].${field} = ["*"]: wildcard "*" grants more than the stack needs; list ` +
      `each ${what} explicitly`;
    failsOnlyOn("rbacWildcard", [wildcard("verbs", "verb"), wildcard("resources", "resource")]);
  });
});
