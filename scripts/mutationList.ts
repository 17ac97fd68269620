/**
 * One-line mutations of the product code and the tests that must catch each (scripts/mutations.ts runs them).
 * `from` must occur exactly once in `file`; keep each mutation to a change a plausible refactor could make.
 */
export interface Mutation {
  readonly name: string;
  readonly file: string;
  readonly from: string;
  readonly to: string;
  /** Test files (relative to the repo), run as one mocha process. */
  readonly tests: readonly string[];
  /** mocha -g, to run only the tests meant to catch it. */
  readonly grep?: string;
}

export const MUTATIONS: readonly Mutation[] = [
  {
    name: "peer SANs compared as DNS names",
    file: "mesh/envoyBootstrap.ts",
    from: `san_type: "URI"`,
    to: `san_type: "DNS"`,
    tests: ["tests/local/bootstrapPlan.test.ts"],
  },
  {
    name: "callers given, listener PERMISSIVE by default",
    file: "components/meshWorkload.ts",
    from: "callers.length > 0 ? TlsMode.Strict : undefined",
    to: "callers.length > 0 ? TlsMode.Permissive : undefined",
    tests: ["tests/components/meshWorkload.test.ts"],
  },
  {
    name: "readiness route matches by prefix",
    file: "mesh/envoyBootstrap.ts",
    from: `{ name: ":path", string_match: { exact: "/ready" } },`,
    to: `{ name: ":path", string_match: { prefix: "/ready" } },`,
    tests: ["tests/local/bootstrapPlan.test.ts", "tests/mesh/envoyDataPlane.test.ts"],
  },
  {
    name: "entry selectors lose the ServiceAccount",
    file: "spire/registrations.ts",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal.
    from: "    `k8s:sa:${serviceAccount}`,\n",
    to: "",
    tests: ["tests/components/meshWorkload.test.ts", "tests/mesh/walkthroughParity.test.ts"],
  },
  {
    name: "NetworkPolicy admits any source on a STRICT sidecar's port",
    file: "mesh/networkPolicy.ts",
    from: "const open = a.callers === undefined ? [a.meshPort, ...(a.openPorts ?? [])] : [...(a.openPorts ?? [])];",
    to: "const open = [a.meshPort, ...(a.openPorts ?? [])];",
    tests: ["tests/render/networkPolicies.test.ts"],
  },
  {
    name: "a meshed workload's NetworkPolicy loses its egress rules",
    file: "mesh/workload.ts",
    from: "egress: proxyEgress(dataPlane, traffic.backends),",
    to: "egress: [],",
    tests: ["tests/render/networkPolicies.test.ts"],
  },
  {
    name: "STRICT listener stops requiring a client certificate",
    file: "mesh/envoyBootstrap.ts",
    from: "require_client_certificate: d.callers.length > 0,",
    to: "require_client_certificate: false,",
    tests: ["tests/mesh/envoyBootstraps.test.ts", "tests/mesh/envoyDataPlane.test.ts"],
  },
  {
    name: "readiness route loses its exact :path (query strings reach /ready)",
    file: "mesh/envoyBootstrap.ts",
    from: `{ name: ":path", string_match: { exact: "/ready" } },`,
    to: "",
    tests: ["tests/local/bootstrapPlan.test.ts"],
  },
  {
    name: "PERMISSIVE listener demands a client certificate",
    file: "mesh/envoyBootstrap.ts",
    from: "require_client_certificate: d.callers.length > 0,",
    to: "require_client_certificate: true,",
    tests: ["tests/local/sidecarRules.test.ts"],
  },
  {
    name: "entry comparison ignores admin",
    file: "spire/entryDiff.ts",
    from: "  admin: (c, d) => c.admin === d.admin,",
    to: "  admin: () => true,",
    // The pure suite: the runners' suites load dist/, which the scratch copy builds before any mutation.
    tests: ["tests/spire/entryDiff.test.ts"],
  },
  {
    name: "agents granted nodes/proxy again (exec into every pod of the node)",
    file: "spire/manifests.ts",
    from: 'resources: s.legacyNodesProxyGrant ? ["nodes/pods", "nodes/proxy"] : ["nodes/pods"],',
    to: 'resources: ["nodes/pods", "nodes/proxy"],',
    tests: ["tests/local/agentRbac.test.ts"],
  },
  {
    name: "the exported bundle read at preview too (exec with the PR's read-only kubeconfig)",
    file: "components/installationFederation.ts",
    from: "if (pulumi.runtime.isDryRun()) return pulumi.output(pulumi.unknown) as pulumi.Output<string>;",
    to: "",
    tests: ["tests/components/bundleRead.test.ts"],
  },
  {
    name: "the exported bundle never read at up (unknown, as at preview)",
    file: "components/installationFederation.ts",
    from: "if (pulumi.runtime.isDryRun()) return",
    to: "if (true) return",
    tests: ["tests/components/bundleRead.test.ts"],
  },
  {
    name: "command stand-in's run invoke takes any logging (it never logs)",
    file: "local/commandRun.ts",
    from: 'if (args.logging !== "none") {',
    to: "if (false) {",
    tests: ["tests/local/commandProvider.test.ts"],
  },
];
