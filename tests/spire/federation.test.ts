/**
 * Federation arguments and builders: every bad input rejected at construction before any resource, naming the
 * field, value and rule; the rendered federation block accepted by spire-server 1.13.3 `validate` (and without
 * the profile warning); the rendered examples/federation stacks (commands, entries, bootstraps).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  MeshWorkload,
  MtlsVirtualNode,
  SpireEntry,
  SpireInstallation,
  type SpireInstallationArgs,
} from "../../components";
import { ValidationError } from "../../core/validation";
import { spireBinary } from "../../local/spireHarness";
import { renderServerConf } from "../../spire/config";
import { peerIdentity } from "../../spire/federation";
import { bundleEndpointService, INTERNAL_LB_ANNOTATIONS } from "../../spire/federationManifests";
import { spireSettings } from "../../spire/settings";
import { construct } from "../support/mocks";
import { type KubeObject, renderStack } from "../support/render";

/** A recorded resource's input, failing loudly when the resource is missing. */
function createOf(r: { inputs: Record<string, unknown> } | undefined): string {
  if (!r) throw new Error("resource not rendered");
  return (r.inputs as { create: string }).create;
}

function dataOf(r: { inputs: Record<string, unknown> } | undefined): Record<string, string> {
  if (!r) throw new Error("resource not rendered");
  return (r.inputs as { data: Record<string, string> }).data;
}

const td = "west.example";
const east = {
  trustDomain: "east.example",
  bundleEndpointUrl: "https://east.example.net:8443",
  endpointSpiffeId: "spiffe://east.example/spire/server",
};
const federated: SpireInstallationArgs = { trustDomain: td, federation: { federatesWith: [east] } };

function assertRejected(error: unknown, field: string, value: string, rule: RegExp) {
  assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
  const problem = error.problems.find((p) => p.field === field);
  assert.ok(problem, `no problem for ${field}: ${error.message}`);
  assert.ok(error.message.includes(`${field} = ${value}: `), error.message);
  assert.match(problem.rule, rule);
}

// [case, federation args, field, value as printed, rule]
const badFederation: [string, SpireInstallationArgs["federation"], string, string, RegExp][] = [
  [
    "a peer with the installation's own trust domain",
    { federatesWith: [{ ...east, trustDomain: td }] },
    "federation.federatesWith[0].trustDomain",
    '"west.example"',
    /own trust domain/,
  ],
  [
    "an endpoint URL that is not https",
    { federatesWith: [{ ...east, bundleEndpointUrl: "http://east.example.net:8443" }] },
    "federation.federatesWith[0].bundleEndpointUrl",
    '"http://east.example.net:8443"',
    /https:\/\//,
  ],
  [
    "https_spiffe without the endpoint SPIFFE ID",
    { federatesWith: [{ ...east, endpointSpiffeId: undefined }] },
    "federation.federatesWith[0].endpointSpiffeId",
    "(missing)",
    /required by profile https_spiffe/,
  ],
  [
    "an endpoint SPIFFE ID of another trust domain",
    { federatesWith: [{ ...east, endpointSpiffeId: "spiffe://west.example/spire/server" }] },
    "federation.federatesWith[0].endpointSpiffeId",
    '"spiffe://west.example/spire/server"',
    /member of the peer's trust domain/,
  ],
  [
    "an own https_web endpoint without its serving certificate",
    { bundleEndpoint: { profile: "https_web" } },
    "federation.bundleEndpoint.servingCertSecret",
    "(missing)",
    /required by profile https_web/,
  ],
  [
    "a bundle endpoint on the server's gRPC port",
    { bundleEndpoint: { port: 8081 } },
    "federation.bundleEndpoint.port",
    "8081",
    /must differ from serverPort/,
  ],
  [
    "a peer bundle carrying a private key",
    { federatesWith: [{ ...east, bundle: JSON.stringify({ keys: [{ kty: "EC", d: "secret" }] }) }] },
    "federation.federatesWith[0].bundle",
    '"(bundle)"',
    /private key material/,
  ],
  [
    "an endpoint URL holding a $ that the server's -expandEnv would fill in (our datastore password)",
    {
      federatesWith: [
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal ${...} is what -expandEnv would fill in
        { ...east, bundleEndpointUrl: "https://east.example.net/${SPIRE_DATASTORE_CONNECTION_STRING}" },
      ],
    },
    "federation.federatesWith[0].bundleEndpointUrl",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: as printed in the error
    '"https://east.example.net/${SPIRE_DATASTORE_CONNECTION_STRING}"',
    /must not contain "\$": SPIRE's -expandEnv would substitute environment variables/,
  ],
  [
    "an internet-facing bundle endpoint without the peers' address ranges",
    { bundleEndpoint: { internetFacing: true } },
    "federation.bundleEndpoint.sourceRanges",
    "(missing)",
    /required with internetFacing/,
  ],
  [
    "a source range that is not a CIDR",
    { bundleEndpoint: { sourceRanges: ["10.0.0.0/33"] } },
    "federation.bundleEndpoint.sourceRanges[0]",
    '"10.0.0.0/33"',
    /must be a CIDR/,
  ],
  [
    "source ranges on a Service that is no load balancer",
    { bundleEndpoint: { serviceType: "ClusterIP", sourceRanges: ["10.0.0.0/8"] } },
    "federation.bundleEndpoint.sourceRanges",
    '["10.0.0.0/8"]',
    /only applies to serviceType LoadBalancer/,
  ],
  [
    "a refresh hint under SPIRE's minimum",
    { bundleEndpoint: { refreshHint: "30s" } },
    "federation.bundleEndpoint.refreshHint",
    '"30s"',
    /at least 1m/,
  ],
];

describe("federation arguments", () => {
  for (const [name, federation, field, value, rule] of badFederation) {
    it(`rejects ${name} before any resource`, async () => {
      const { value: error, resources } = await construct(
        () => new SpireInstallation("spire", { trustDomain: td, federation }),
      );
      assertRejected(error, field, value, rule);
      assert.deepEqual(resources, [], "nothing may be registered");
    });
  }

  it("rejects a caller, a backend and an entry in a trust domain that is not federated", async () => {
    const caller = "spiffe://north.example/ns/a/sa/b";
    const { value: error, resources } = await construct(() => {
      const spire = new SpireInstallation("spire", federated);
      return new MeshWorkload("api", {
        namespace: "shop",
        installation: spire,
        containers: [{ name: "api", image: "registry.example/api:1" }],
        port: 8080,
        callers: [caller],
      });
    });
    assertRejected(
      error,
      "callers[0]",
      JSON.stringify(caller),
      /trust domain "north\.example" is not federated/,
    );
    assert.ok(
      resources.every((r) => !r.urn.includes("MeshWorkload")),
      "no workload resource registered",
    );

    const remote = await construct(() => {
      const spire = new SpireInstallation("spire", federated);
      return new MeshWorkload("web", {
        namespace: "shop",
        installation: spire,
        containers: [{ name: "web", image: "registry.example/web:1" }],
        port: 8080,
        backends: [{ identity: caller, hostname: "api.north.example.net" }],
      });
    });
    assertRejected(remote.value, "backends[0].identity", JSON.stringify(caller), /is not federated/);

    const entry = await construct(() => {
      const spire = new SpireInstallation("spire", federated);
      return new SpireEntry("x", {
        installation: spire,
        spiffeId: "spiffe://west.example/x",
        parentId: spire.nodeAlias.spiffeId,
        selectors: ["k8s:sa:x"],
        federatesWith: ["north.example"],
      });
    });
    assertRejected(entry.value, "federatesWith[0]", '"north.example"', /not federated by the installation/);

    const node = await construct(
      () =>
        new MtlsVirtualNode("n", {
          name: "n",
          namespace: "shop",
          podSelector: { app: "n" },
          trustDomain: td,
          identity: "spiffe://west.example/n",
          tlsMode: "STRICT" as never,
          allowedCallers: ["spiffe://east.example/c"],
        }),
    );
    assertRejected(node.value, "allowedCallers[0]", '"spiffe://east.example/c"', /is not federated/);
    assert.deepEqual(node.resources, []);
  });

  it("the bundle endpoint's load balancer is internal by default; internet-facing only with source ranges", () => {
    const service = (bundleEndpoint: object) =>
      bundleEndpointService(
        spireSettings({ ...federated, federation: { ...federated.federation, bundleEndpoint } }),
      );
    const internal = service({}) as KubeObject;
    assert.equal(internal.spec.type, "LoadBalancer");
    assert.deepEqual(internal.metadata.annotations, INTERNAL_LB_ANNOTATIONS);
    assert.equal(
      internal.metadata.annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"],
      "internal",
    );
    const ranged = service({ sourceRanges: ["10.20.0.0/16"] }) as KubeObject;
    assert.deepEqual(ranged.spec.loadBalancerSourceRanges, ["10.20.0.0/16"]);
    const open = service({
      internetFacing: true,
      sourceRanges: ["203.0.113.0/24", "2001:db8::/32"],
    }) as KubeObject;
    assert.equal(open.metadata.annotations, undefined, "no internal annotation on an internet-facing one");
    assert.deepEqual(open.spec.loadBalancerSourceRanges, ["203.0.113.0/24", "2001:db8::/32"]);
    // Another cloud's own annotation goes over ours.
    const custom = service({
      serviceAnnotations: { "service.beta.kubernetes.io/aws-load-balancer-scheme": "x" },
    });
    assert.equal(custom?.metadata.annotations?.["service.beta.kubernetes.io/aws-load-balancer-scheme"], "x");
    assert.equal((service({ serviceType: "ClusterIP" }) as KubeObject).metadata.annotations, undefined);
  });

  it("server.conf holds no $ but the datastore reference: a value that slipped past the checks is refused", () => {
    const settings = spireSettings({
      ...federated,
      datastore: { type: "postgres", connectionString: "postgres://spire:pw@db/spire" },
    });
    // The postgres reference itself renders: it is the one expansion the server is meant to make.
    assert.match(renderServerConf(settings), /connection_string = "\$\{SPIRE_DATASTORE_CONNECTION_STRING\}"/);
    const [peer] = settings.federation?.federatesWith ?? [];
    const tampered = {
      ...settings,
      clusterName: "a$HOME",
      federation: {
        ...(settings.federation as NonNullable<typeof settings.federation>),
        federatesWith: [
          { ...peer, bundleEndpointUrl: "https://east.example.net/$SPIRE_DATASTORE_CONNECTION_STRING" },
        ],
      },
    };
    assert.throws(
      () => renderServerConf(tampered),
      (e: unknown) => {
        assert.ok(e instanceof ValidationError, String(e));
        assert.deepEqual(
          e.problems.map((p) => p.field),
          [
            'server.federation.federates_with."east.example".bundle_endpoint_url',
            'plugins.NodeAttestor."k8s_psat".plugin_data.clusters key',
          ],
        );
        assert.match(e.message, /must not contain "\$"/);
        return true;
      },
    );
  });

  it("renders a federation block spire-server 1.13.3 validates, with the own profile set (no warning)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-fed-"));
    try {
      const conf = path.join(dir, "server.conf");
      fs.writeFileSync(conf, renderServerConf(spireSettings(federated)));
      const r = spawnSync(spireBinary("spire-server"), ["validate", "-config", conf], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr + r.stdout);
      assert.doesNotMatch(r.stdout + r.stderr, /no profile set/);
      assert.match(fs.readFileSync(conf, "utf8"), /profile "https_spiffe" \{/);
      // The same file with the peer's URL on plain http: SPIRE refuses it too.
      fs.writeFileSync(conf, fs.readFileSync(conf, "utf8").replace("https://east", "http://east"));
      const bad = spawnSync(spireBinary("spire-server"), ["validate", "-config", conf], { encoding: "utf8" });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stdout + bad.stderr, /must use the HTTPS protocol/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("examples/federation rendered offline with its StackReference files", function () {
  this.timeout(120_000);
  const project = path.resolve(__dirname, "..", "..", "examples", "federation");

  it("west: bundle set of east's bundle on stdin, a caller entry federating with east, a bootstrap on ALL", async () => {
    const west = await renderStack("west", {}, project);
    const set = west.resources.find((r) => r.name === "spire-federation-east-example");
    const plan = JSON.parse(createOf(set));
    assert.deepEqual(plan.set.slice(-8), [
      "bundle",
      "set",
      "-format",
      "spiffe",
      "-id",
      "spiffe://east.example",
      "-output",
      "json",
    ]);
    assert.ok(!plan.set.includes(plan.bundle), "the bundle travels on stdin, not in argv");
    assert.equal(JSON.parse(plan.bundle).keys.length > 0, true);
    const entry = west.resources.find((r) => r.name === "caller-entry");
    const create = JSON.parse(createOf(entry)).create as string[];
    assert.deepEqual(create.slice(create.indexOf("-federatesWith"), create.indexOf("-federatesWith") + 2), [
      "-federatesWith",
      "spiffe://east.example",
    ]);
    const yaml = fs.readFileSync(path.join(project, "Pulumi.west.yaml"), "utf8");
    assert.match(yaml, /role: client/);
    const bootstrapMap = west.resources.find(
      (r) => r.type === "kubernetes:core/v1:ConfigMap" && r.name.startsWith("caller-envoy"),
    );
    const bootstrap = JSON.parse(dataOf(bootstrapMap)["bootstrap.json"]);
    assert.equal(bootstrap.node.metadata.disable_spiffe_cert_validation, false);
    const cluster = bootstrap.static_resources.clusters.find((c: { name: string }) =>
      c.name.includes("greeter"),
    );
    const ctx = cluster.transport_socket.typed_config.common_tls_context.combined_validation_context;
    assert.equal(ctx.validation_context_sds_secret_config.name, "ALL");
    assert.deepEqual(
      ctx.default_validation_context.match_typed_subject_alt_names.map(
        (m: { matcher: { exact: string } }) => m.matcher.exact,
      ),
      ["spiffe://east.example/ns/east/sa/greeter"],
    );
  });

  it("peerIdentity: an identity from a peer's outputs must lie in that peer's own trust domain", () => {
    const greeter = "spiffe://east.example/ns/east/sa/greeter";
    assert.equal(peerIdentity("east.example", greeter, "greeterIdentity"), greeter);
    for (const bad of [
      "spiffe://west.example/ns/west/sa/admin",
      "spiffe://north.example/x",
      "east.example",
      7,
    ]) {
      assert.throws(
        () => peerIdentity("east.example", bad, "greeterIdentity"),
        (e: unknown) => {
          assertRejected(e, "greeterIdentity", JSON.stringify(bad), /peer's own trust domain east\.example/);
          return true;
        },
      );
    }
  });

  it("refuses a peer's caller or service identity outside the peer's trust domain, naming the output", async () => {
    const { renderProgram } = await import("../../render/runtime");
    const references = (stack: string, outputs: Record<string, unknown>) => {
      const file = path.join(project, "render", `${stack}.outputs.json`);
      const own = JSON.parse(fs.readFileSync(file, "utf8"));
      return { [`organization/spire-mesh-federation/${stack}`]: { ...own, ...outputs } };
    };
    // East publishes a greeter identity in west's own domain: west must not trust one of its own as east's.
    const west = renderProgram({
      stack: "west",
      projectDir: project,
      stackReferences: references("east", {
        greeterIdentity: "spiffe://west.example/ns/spire-west/sa/admin",
      }),
    });
    // The example loads the built library (dist), whose ValidationError is another class: match the text.
    await assert.rejects(
      west,
      /greeterIdentity = "spiffe:\/\/west\.example\/ns\/spire-west\/sa\/admin": must be a SPIFFE ID in the peer's own trust domain east\.example/,
    );
    const east = renderProgram({
      stack: "east",
      projectDir: project,
      stackReferences: references("west", { callerIdentity: "spiffe://north.example/ns/x/sa/caller" }),
    });
    await assert.rejects(
      east,
      /callerIdentity = "spiffe:\/\/north\.example\/ns\/x\/sa\/caller": must be a SPIFFE ID in the peer's own trust domain west\.example/,
    );
  });

  it("east without a peer yet: SPIRE and its bundle endpoint only, and a warning saying what to run", async () => {
    const { renderProgram } = await import("../../render/runtime");
    const first = await renderProgram({ stack: "east", projectDir: project, stackReferences: {} });
    assert.ok(!first.resources.some((r) => r.type === "spire-mesh:index:MeshWorkload"));
    assert.match(
      String(first.outputs.bundle),
      /stdout of command:local:run/,
      "east still publishes its bundle",
    );
    assert.match(first.warnings.join("\n"), /has published no caller yet.*run pulumi up there/);
  });
});
