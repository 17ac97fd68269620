/**
 * The local sidecar's RBAC: it reads the rendered filters into the subset it models (exact principal_name,
 * path exact/prefix, methods as `:method`, one exact header, shadow rules with their stat prefix) and refuses
 * anything else by its path; and it evaluates them as Envoy does (pure).
 */
import * as assert from "node:assert/strict";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { allows, authorize, type RbacPlan, type RbacRequest } from "../../local/sidecarRbac";
import { type AuthorizationArgs, AuthorizationMode } from "../../mesh/authorization";
import { type MeshNodeArgs, meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol } from "../../mesh/virtualNode";
import { blueNode, FRONT, RED, TD } from "../support/authorizedNode";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are edited as plain JSON.
type Json = any;

const rules: AuthorizationArgs = {
  rules: [
    { callers: [FRONT], path: { prefix: "/color" }, methods: ["GET"] },
    { callers: [RED], path: { exact: "/ping" }, header: { name: "x-probe", exact: "yes" } },
  ],
};

const bootstrap = (authorization: AuthorizationArgs, extra: Partial<MeshNodeArgs> = {}): Json =>
  meshNodePlan(blueNode(authorization, extra)).envoy?.bootstrap;

const ingressChain = (b: Json) =>
  b.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_ingress_")).filter_chains[0];
const httpRbac = (b: Json) => ingressChain(b).filters[0].typed_config.http_filters[0].typed_config;
const policy0 = (b: Json) => httpRbac(b).rules.policies["rule-0"];
const rbacOf = (b: Json): RbacPlan => sidecarPlan(b).ingress.onPlaintext?.rbac as RbacPlan;

/** An HTTP request from `peer` as the filter sees it. */
const request = (
  peer: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): RbacRequest => ({
  peerSans: [peer],
  path,
  header: (name) => (name === ":method" ? method : headers[name]),
});

describe("local sidecar: RBAC", () => {
  it("reads the rendered enforce, shadow and tcp filters with Envoy's counter roots", () => {
    const enforce = rbacOf(bootstrap(rules));
    assert.equal(enforce.statRoot, "http.ingress_mtls.rbac.");
    assert.equal(enforce.shadowRules, undefined);
    assert.deepEqual(enforce.rules?.[0].principals, [FRONT]);
    const shadow = rbacOf(bootstrap({ ...rules, mode: AuthorizationMode.Shadow }));
    assert.equal(shadow.rules, undefined);
    assert.equal(shadow.shadowStatPrefix, "authz_");
    assert.deepEqual(shadow.shadowRules, enforce.rules);
    const tcp = rbacOf(bootstrap({ rules: [{ callers: [FRONT] }] }, { protocol: ListenerProtocol.Tcp }));
    assert.equal(tcp.statRoot, "ingress_mtls.rbac.");
    assert.deepEqual(tcp.rules?.[0].permissions, [{ any: true }]);
  });

  it("evaluates as Envoy: the principal, then all of path, method and header; the query is not part of the path", () => {
    const plan = rbacOf(bootstrap(rules));
    const p = plan.rules ?? [];
    assert.equal(allows(p, request(FRONT, "GET", "/color")), true);
    assert.equal(allows(p, request(FRONT, "GET", "/color/x?y=1")), true);
    assert.equal(allows(p, request(FRONT, "POST", "/color")), false, "method");
    assert.equal(allows(p, request(FRONT, "GET", "/ping")), false, "path");
    assert.equal(allows(p, request(RED, "GET", "/color")), false, "principal");
    assert.equal(allows(p, request(RED, "GET", "/ping?x", { "x-probe": "yes" })), true);
    assert.equal(allows(p, request(RED, "GET", "/ping/", { "x-probe": "yes" })), false, "exact path");
    assert.equal(allows(p, request(RED, "GET", "/ping", { "x-probe": "no" })), false, "header");
    assert.equal(allows(p, { peerSans: [], path: "/color", header: () => "GET" }), false, "no certificate");
  });

  it("counts as Envoy: enforced rules decide; shadow rules only count, under their prefix", () => {
    const counted: string[] = [];
    const count = (s: string) => counted.push(s);
    const enforce = rbacOf(bootstrap(rules));
    assert.equal(authorize(enforce, request(FRONT, "POST", "/color"), count), false);
    assert.equal(authorize(enforce, request(FRONT, "GET", "/color"), count), true);
    const shadow = rbacOf(bootstrap({ ...rules, mode: AuthorizationMode.Shadow }));
    assert.equal(authorize(shadow, request(FRONT, "POST", "/color"), count), true);
    assert.equal(authorize(shadow, request(FRONT, "GET", "/color"), count), true);
    assert.deepEqual(counted, [
      "http.ingress_mtls.rbac.denied",
      "http.ingress_mtls.rbac.allowed",
      "http.ingress_mtls.rbac.authz_shadow_denied",
      "http.ingress_mtls.rbac.authz_shadow_allowed",
    ]);
  });

  const refusals: [string, (b: Json) => void, RegExp][] = [
    [
      "a principal_name prefix match",
      (b) => {
        policy0(b).principals[0].authenticated.principal_name = { prefix: `spiffe://${TD}/` };
      },
      /principal_name\.prefix is not modelled/,
    ],
    [
      "another principal (any)",
      (b) => {
        policy0(b).principals.push({ any: true });
      },
      /principals\[1\]\.any is not modelled/,
    ],
    [
      "a DENY action",
      (b) => {
        httpRbac(b).rules.action = "DENY";
      },
      /rules\.action: "DENY" is not modelled/,
    ],
    [
      "a regex path",
      (b) => {
        policy0(b).permissions[0].and_rules.rules[0].url_path.path = { safe_regex: { regex: "/c.*" } };
      },
      /url_path\.path\.safe_regex is not modelled/,
    ],
    [
      "a header prefix match",
      (b) => {
        policy0(b).permissions[0].and_rules.rules[1].header.string_match = { prefix: "G" };
      },
      /string_match\.prefix is not modelled/,
    ],
    [
      "another permission (destination_port)",
      (b) => {
        policy0(b).permissions.push({ destination_port: 8080 });
      },
      /permissions\[1\]\.destination_port is not modelled/,
    ],
    [
      "per-rule stats",
      (b) => {
        httpRbac(b).track_per_rule_stats = true;
      },
      /track_per_rule_stats is not modelled/,
    ],
    [
      "RBAC after the router",
      (b) => {
        ingressChain(b).filters[0].typed_config.http_filters.reverse();
      },
      /http_filters: \["envoy\.filters\.http\.router","envoy\.filters\.http\.rbac"\] must be the router, after at most one RBAC filter/,
    ],
    [
      "an RBAC filter without rules",
      (b) => {
        delete httpRbac(b).rules;
      },
      /needs rules or shadow_rules/,
    ],
    [
      "RBAC on the readiness listener",
      (b) => {
        const readiness = b.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_readiness_"));
        readiness.filter_chains[0].filters[0].typed_config.http_filters.unshift(
          ingressChain(b).filters[0].typed_config.http_filters[0],
        );
      },
      /lds_readiness|listeners\[1\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters: "RBAC" is not modelled here/,
    ],
  ];
  for (const [what, edit, message] of refusals) {
    it(`refuses ${what}, naming its path`, () => {
      const b = bootstrap(rules);
      assert.doesNotThrow(() => sidecarPlan(structuredClone(b)), "the unedited bootstrap is accepted");
      edit(b);
      assert.throws(() => sidecarPlan(b), message);
    });
  }

  it("refuses network RBAC before an HTTP connection manager, and a third network filter", () => {
    const tcp = bootstrap({ rules: [{ callers: [FRONT] }] }, { protocol: ListenerProtocol.Tcp });
    const http = bootstrap(rules);
    ingressChain(http).filters.unshift(ingressChain(tcp).filters[0]);
    assert.throws(
      () => sidecarPlan(http),
      /filters\[0\]: "envoy\.filters\.network\.rbac" must be network RBAC before tcp_proxy/,
    );
    ingressChain(tcp).filters.unshift(ingressChain(tcp).filters[0]);
    assert.throws(
      () => sidecarPlan(tcp),
      /filters: 3 must be one protocol filter, or network RBAC and tcp_proxy/,
    );
  });
});
