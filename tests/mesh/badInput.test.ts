/**
 * Bad arguments to MtlsVirtualNode and ColorApp (its gateway's included; MtlsVirtualGateway's own are in
 * tests/components/mtlsVirtualGateway.test.ts) fail before anything is registered, with a ValidationError whose
 * problem names the field, shows the value and states the rule. Each case breaks one thing in otherwise valid
 * arguments (the walkthrough's blue and front nodes, and ColorApp's defaults) and expects exactly that problem.
 */
import assert from "node:assert/strict";
import { ColorApp, type ColorAppArgs } from "../../components/colorApp";
import { ServiceType } from "../../components/mtlsVirtualGateway";
import {
  DataPlane,
  type ListenerProtocol,
  MtlsVirtualNode,
  type MtlsVirtualNodeArgs,
  TlsMode,
} from "../../components/mtlsVirtualNode";
import { ValidationError } from "../../core/validation";
import { construct, outsideInstallation, walkthroughInstallation } from "../support/mocks";

const TD = "howto-k8s-mtls-sds-based.aws";

/** The walkthrough's blue node: STRICT, its own SVID, only front may call. */
const blue: MtlsVirtualNodeArgs = {
  name: "blue",
  namespace: "howto-k8s-mtls-sds-based",
  podSelector: { app: "color", version: "blue" },
  trustDomain: TD,
  identity: "spiffe://howto-k8s-mtls-sds-based.aws/colorblue",
  tlsMode: TlsMode.Strict,
  allowedCallers: ["spiffe://howto-k8s-mtls-sds-based.aws/front"],
};

/** The walkthrough's front node: no listener TLS, client TLS to the colours behind virtual service color. */
const front: MtlsVirtualNodeArgs = {
  // App Mesh's router carries the routes; on envoy the node would also need `egress`.
  dataPlane: DataPlane.AppMesh,
  name: "front",
  namespace: "howto-k8s-mtls-sds-based",
  podSelector: { app: "front" },
  trustDomain: TD,
  identity: "spiffe://howto-k8s-mtls-sds-based.aws/front",
  backends: ["color"],
  allowedServers: [
    "spiffe://howto-k8s-mtls-sds-based.aws/colorblue",
    "spiffe://howto-k8s-mtls-sds-based.aws/colorred",
    "spiffe://howto-k8s-mtls-sds-based.aws/colorgreen",
  ],
};

/** Front on the envoy data plane, calling virtual service `color` through the given routes. */
const egressTo = (
  routes: NonNullable<MtlsVirtualNodeArgs["egress"]>[number]["routes"],
): MtlsVirtualNodeArgs => ({
  ...front,
  dataPlane: DataPlane.Envoy,
  allowedServers: [blue.identity as string],
  egress: [{ virtualService: "color", hostname: "color.howto-k8s-mtls-sds-based.svc.cluster.local", routes }],
});

interface BadCase {
  readonly title: string;
  readonly build: () => unknown;
  /** The one problem expected: its field, the value as the message shows it (JSON), and the rule. */
  readonly field: string;
  readonly shown: string;
  readonly rule: RegExp;
}

const node = (
  title: string,
  args: MtlsVirtualNodeArgs,
  field: string,
  shown: string,
  rule: RegExp,
): BadCase => ({
  title: `MtlsVirtualNode: ${title}`,
  build: () => new MtlsVirtualNode("node", args),
  field,
  shown,
  rule,
});

const app = (
  title: string,
  args: Omit<ColorAppArgs, "installation">,
  field: string,
  shown: string,
  rule: RegExp,
): BadCase => ({
  title: `ColorApp: ${title}`,
  build: () => new ColorApp("demo", { installation: walkthroughInstallation(), ...args }),
  field,
  shown,
  rule,
});

/** Keeps every field of `args` but `field`, to test a missing argument. */
const without = <T extends object>(args: T, field: keyof T): T => {
  const copy = { ...args };
  delete copy[field];
  return copy;
};

const cases: BadCase[] = [
  // TLS policy
  node(
    "STRICT without allowedCallers (no validation)",
    without(blue, "allowedCallers"),
    "allowedCallers",
    "[]",
    /STRICT needs callers: at least one SPIFFE ID to admit$/,
  ),
  node(
    "STRICT without identity (no certificate)",
    without(blue, "identity"),
    "identity",
    "(missing)",
    /required by tlsMode STRICT.*certificate/,
  ),
  node(
    "PERMISSIVE without identity (no certificate)",
    { ...without(without(blue, "identity"), "allowedCallers"), tlsMode: TlsMode.Permissive },
    "identity",
    "(missing)",
    /required by tlsMode PERMISSIVE.*certificate/,
  ),
  node(
    "PERMISSIVE with allowedCallers (plaintext callers skip the SAN check)",
    { ...blue, tlsMode: TlsMode.Permissive },
    "allowedCallers",
    '["spiffe://howto-k8s-mtls-sds-based.aws/front"]',
    /conflict with tlsMode PERMISSIVE: plaintext callers skip the SAN check/,
  ),
  node(
    "allowedCallers with tlsMode DISABLED",
    { ...blue, tlsMode: TlsMode.Disabled },
    "allowedCallers",
    '["spiffe://howto-k8s-mtls-sds-based.aws/front"]',
    /conflict with tlsMode DISABLED/,
  ),
  node(
    "allowedCallers without tlsMode",
    without(blue, "tlsMode"),
    "allowedCallers",
    '["spiffe://howto-k8s-mtls-sds-based.aws/front"]',
    /need listener TLS \(set tlsMode STRICT\)/,
  ),
  node(
    "tlsMode outside STRICT, PERMISSIVE, DISABLED",
    { ...blue, tlsMode: "STRICTEST" as TlsMode },
    "tlsMode",
    '"STRICTEST"',
    /must be one of STRICT, PERMISSIVE, DISABLED/,
  ),
  node(
    "allowedServers without backends",
    without(front, "backends"),
    "backends",
    "[]",
    /client TLS \(allowedServers\) needs at least one backend/,
  ),
  node(
    "allowedServers without identity (no client certificate)",
    without(front, "identity"),
    "identity",
    "(missing)",
    /required for client TLS/,
  ),
  // SANs
  node(
    "a caller SAN that is not a SPIFFE ID",
    { ...blue, allowedCallers: ["front"] },
    "allowedCallers[0]",
    '"front"',
    /must start with "spiffe:\/\/"/,
  ),
  node(
    "a caller SAN in another trust domain",
    { ...blue, allowedCallers: ["spiffe://example.org/front"] },
    "allowedCallers[0]",
    '"spiffe://example.org/front"',
    /not a member of trust domain "howto-k8s-mtls-sds-based.aws"/,
  ),
  node(
    "a server SAN under /spire (SPIRE's own IDs)",
    { ...front, allowedServers: ["spiffe://howto-k8s-mtls-sds-based.aws/spire/agent/k8s_psat/c/n"] },
    "allowedServers[0]",
    '"spiffe://howto-k8s-mtls-sds-based.aws/spire/agent/k8s_psat/c/n"',
    /reserved.*\/spire/,
  ),
  node(
    "an identity in another trust domain",
    { ...blue, identity: "spiffe://appmesh.aws/colorblue" },
    "identity",
    '"spiffe://appmesh.aws/colorblue"',
    /not a member of trust domain/,
  ),
  // Listener
  node("port 0", { ...blue, port: 0 }, "port", "0", /1-65535/),
  node("port 65536", { ...blue, port: 65536 }, "port", "65536", /1-65535/),
  node(
    'protocol "https"',
    { ...blue, protocol: "https" as ListenerProtocol },
    "protocol",
    '"https"',
    /must be one of http, http2, grpc, tcp/,
  ),
  // Egress on the envoy data plane: what one listener can carry
  node(
    "an egress whose routes target nodes of two protocols",
    egressTo([
      { name: "a", header: "x", value: "a", target: { ...blue, protocol: "http2" as ListenerProtocol } },
      { name: "b", target: { ...blue, protocol: "http" as ListenerProtocol } },
    ]),
    "egress[0].routes",
    '["http2","http"]',
    /must all target nodes of one protocol/,
  ),
  node(
    "a tcp egress routed on a header",
    egressTo([
      { name: "a", header: "x", value: "a", target: { ...blue, protocol: "tcp" as ListenerProtocol } },
    ]),
    "egress[0].routes",
    '["a"]',
    /tcp carries no headers to route on/,
  ),
  node(
    "a route without a header before the last",
    egressTo([
      { name: "a", target: blue },
      { name: "b", header: "x", value: "b", target: blue },
    ]),
    "egress[0].routes[0].header",
    "(missing)",
    /required on every route but the last/,
  ),
  node(
    "a header route without a value",
    egressTo([{ name: "a", header: "x", target: blue }]),
    "egress[0].routes[0].value",
    "(missing)",
    /is required with header/,
  ),
  // Health check (App Mesh CRD limits, fact sheet 6)
  node(
    "healthyThreshold 1",
    { ...blue, healthCheck: { healthyThreshold: 1 } },
    "healthCheck.healthyThreshold",
    "1",
    /2-10/,
  ),
  node(
    "healthyThreshold 11",
    { ...blue, healthCheck: { healthyThreshold: 11 } },
    "healthCheck.healthyThreshold",
    "11",
    /2-10/,
  ),
  node(
    "unhealthyThreshold 1",
    { ...blue, healthCheck: { unhealthyThreshold: 1 } },
    "healthCheck.unhealthyThreshold",
    "1",
    /2-10/,
  ),
  node(
    "timeoutMillis 1999",
    { ...blue, healthCheck: { timeoutMillis: 1999 } },
    "healthCheck.timeoutMillis",
    "1999",
    /2000-60000/,
  ),
  node(
    "intervalMillis 300001",
    { ...blue, healthCheck: { intervalMillis: 300001 } },
    "healthCheck.intervalMillis",
    "300001",
    /5000-300000/,
  ),
  node(
    "a relative health check path",
    { ...blue, healthCheck: { path: "ping" } },
    "healthCheck.path",
    '"ping"',
    /absolute HTTP path/,
  ),
  // Names and selector
  node("empty podSelector", { ...blue, podSelector: {} }, "podSelector", "{}", /at least one label/),
  node(
    "a podSelector value that is not a label value",
    { ...blue, podSelector: { version: "blue!" } },
    "podSelector.version",
    '"blue!"',
    /label value/,
  ),
  node(
    "an uppercase name",
    // An explicit hostname: the default one is derived from the name and would be a second problem.
    { ...blue, name: "Blue", hostname: "color-blue.howto-k8s-mtls-sds-based.svc.cluster.local" },
    "name",
    '"Blue"',
    /RFC 1123/,
  ),
  node(
    "a backend that is not a virtual service name",
    { ...front, backends: ["color.svc"] },
    "backends[0]",
    '"color.svc"',
    /RFC 1123/,
  ),
  // ColorApp
  app("empty colors", { colors: [] }, "colors", "[]", /1-10 colours/),
  app(
    "a duplicate colour",
    { colors: ["blue", "green", "blue"] },
    "colors",
    '["blue","green","blue"]',
    /must not repeat/,
  ),
  app("an uppercase colour", { colors: ["blue", "Green"] }, "colors[1]", '"Green"', /lowercase name/),
  app(
    "a colour named front",
    { colors: ["blue", "front"] },
    "colors",
    '["blue","front"]',
    /must not contain "front"/,
  ),
  app(
    "11 colours (a route has at most 10 targets)",
    { colors: ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10"] },
    "colors",
    '["c0","c1","c2","c3","c4","c5","c6","c7","c8","c9","c10"]',
    /1-10 colours/,
  ),
  app("a bad namespace", { namespace: "Howto_K8s" }, "namespace", '"Howto_K8s"', /Kubernetes namespace name/),
  app(
    "a header name with a space",
    { routeHeader: "color header" },
    "routeHeader",
    '"color header"',
    /HTTP header name/,
  ),
  app(
    "a header name over 50 characters",
    { routeHeader: "h".repeat(51) },
    "routeHeader",
    `"${"h".repeat(51)}"`,
    /1-50 characters/,
  ),
  app("a bad image reference", { nodeImage: "node 20" }, "nodeImage", '"node 20"', /image reference/),
  app(
    "a bad colour image reference",
    { colorImage: "Repo/ColorApp:latest" },
    "colorImage",
    '"Repo/ColorApp:latest"',
    /image reference/,
  ),
  app("a bad mesh name", { meshName: "my_mesh" }, "meshName", '"my_mesh"', /lowercase DNS name/),
  // ColorApp's ingress gateway
  app(
    "a colour named gateway, with the gateway on",
    { colors: ["blue", "gateway"], gateway: true },
    "colors",
    '["blue","gateway"]',
    /must not contain "gateway"/,
  ),
  app(
    "a STRICT gateway without callers",
    { gateway: { listener: { tlsMode: TlsMode.Strict } } },
    "gateway.listener.callers",
    "[]",
    /STRICT needs callers/,
  ),
  app(
    "a gateway caller outside the trust domain",
    { gateway: { listener: { tlsMode: TlsMode.Strict, callers: ["spiffe://other.example/front"] } } },
    "gateway.listener.callers[0]",
    '"spiffe://other.example/front"',
    /trust domain/,
  ),
  app(
    "a gateway port on Envoy's readiness port",
    { gateway: { listener: { port: 15021 } } },
    "gateway.listener.port",
    "15021",
    /clashes with the gateway Envoy's readiness port/,
  ),
  app(
    "a plaintext gateway behind a LoadBalancer",
    { gateway: { serviceType: ServiceType.LoadBalancer } },
    "gateway.serviceType",
    '"LoadBalancer"',
    /outside the cluster: set gateway\.listener\.tlsMode STRICT .* or gateway\.listener\.allowPlaintextExternal true/,
  ),
];

describe("bad input to MtlsVirtualNode and ColorApp", () => {
  it("the unbroken arguments are accepted and register resources", async () => {
    for (const build of [
      () => new MtlsVirtualNode("node", blue),
      () => new MtlsVirtualNode("node", front),
      () => new ColorApp("demo", { installation: walkthroughInstallation() }),
    ]) {
      const { value, resources } = await construct(build);
      assert.ok(!(value instanceof Error), String(value));
      assert.ok(resources.length > 0);
    }
  });

  for (const badCase of cases) {
    it(`${badCase.title} -> ${badCase.field}`, async () => {
      const { value, resources, warnings } = await construct(badCase.build);
      assert.ok(value instanceof ValidationError, `expected a ValidationError, got ${String(value)}`);
      // Exactly the one problem this case introduces: nothing else in the arguments is wrong.
      assert.deepEqual(
        value.problems.map((p) => p.field),
        [badCase.field],
        value.message,
      );
      const [problem] = value.problems;
      assert.match(problem.rule, badCase.rule);
      // The message a user reads names the field, shows the value and states the rule on one line.
      assert.ok(
        value.message.includes(`  - ${badCase.field} = ${badCase.shown}: ${problem.rule}`),
        value.message,
      );
      assert.deepEqual(outsideInstallation(resources), [], "nothing may be registered for bad input");
      assert.deepEqual(warnings, []);
    });
  }

  it("reports every problem of one call together", async () => {
    const { value, resources } = await construct(
      () =>
        new MtlsVirtualNode("node", {
          ...blue,
          port: 0,
          protocol: "https" as ListenerProtocol,
          healthCheck: { healthyThreshold: 1, timeoutMillis: 1999 },
          allowedCallers: [],
        }),
    );
    assert.ok(value instanceof ValidationError);
    assert.deepEqual(value.problems.map((p) => p.field).sort(), [
      "allowedCallers",
      "healthCheck.healthyThreshold",
      "healthCheck.timeoutMillis",
      "port",
      "protocol",
    ]);
    assert.deepEqual(resources, []);
  });
});
