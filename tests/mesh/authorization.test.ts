/**
 * Authorization by SPIFFE ID: bad rules refused at construction (all at once, each naming field, value and
 * rule), the App Mesh data plane refusing it, and the rendered RBAC filters judged by go-control-plane
 * (envoy-validate), with a witness that the validator reads inside the RBAC typed configs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../core/validation";
import {
  AUTHZ_EMPTY_RULE,
  AUTHZ_HEADER_RULE,
  AUTHZ_METHODS_RULE,
  AUTHZ_MODE_RULE,
  AUTHZ_NO_RULES_RULE,
  AUTHZ_NOT_CALLER_RULE,
  AUTHZ_PATH_RULE,
  AUTHZ_SHADOW_STAT_PREFIX,
  AUTHZ_STRICT_RULE,
  AUTHZ_TCP_RULE,
  type AuthorizationArgs,
  AuthorizationMode,
} from "../../mesh/authorization";
import { CALLER_REPEAT_RULE } from "../../mesh/callers";
import { DataPlane } from "../../mesh/envoySidecar";
import { APPMESH_AUTHZ_RULE, type MeshNodeArgs, meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol, TlsMode } from "../../mesh/virtualNode";
import { blueNode, FRONT, RED, TD } from "../support/authorizedNode";
import { runEnvoyValidate, validateEnvoyBootstraps } from "../support/envoyValidator";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are plain JSON.
type Json = any;

const frontMayGetColor: AuthorizationArgs = {
  rules: [{ callers: [FRONT], path: { prefix: "/color" }, methods: ["GET", "HEAD"] }],
};

/** The problems a construction is refused with, as [field, rule]. */
function problems(args: MeshNodeArgs): [string, string][] {
  try {
    meshNodePlan(args);
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e.problems.map((p) => [p.field, p.rule]);
  }
  assert.fail("accepted");
}

const ingress = (bootstrap: Json) =>
  bootstrap.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_ingress_"));
const bootstrapOf = (args: MeshNodeArgs): Json => meshNodePlan(args).envoy?.bootstrap;

describe("authorization by SPIFFE ID", () => {
  describe("refused at construction", () => {
    it("lists every bad rule at once: a non-caller, an empty rule, a relative path, an unknown method, a bad header, a repeat", () => {
      const got = problems(
        blueNode({
          mode: "audit" as AuthorizationMode,
          rules: [
            { callers: [`spiffe://${TD}/colorgreen`], path: { exact: "color" } },
            { callers: [] },
            { callers: [FRONT, FRONT], methods: ["GET", "FETCH"], header: { name: ":path", exact: "/x" } },
            { callers: [RED], methods: [] },
          ],
        }),
      );
      assert.deepEqual(
        got.sort(),
        [
          ["authorization.mode", AUTHZ_MODE_RULE],
          ["authorization.rules[0].callers[0]", AUTHZ_NOT_CALLER_RULE],
          ["authorization.rules[0].path", AUTHZ_PATH_RULE],
          ["authorization.rules[1].callers", AUTHZ_EMPTY_RULE],
          ["authorization.rules[2].callers[1]", CALLER_REPEAT_RULE],
          ["authorization.rules[2].header", AUTHZ_HEADER_RULE],
          [
            "authorization.rules[2].methods[1]",
            `is not an HTTP method (GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH)`,
          ],
          ["authorization.rules[3].methods", AUTHZ_METHODS_RULE],
        ].sort(),
      );
    });

    it("names the value in the message", () => {
      assert.throws(
        () => meshNodePlan(blueNode({ rules: [{ callers: [FRONT], path: { prefix: "color/" } }] })),
        (e: Error) =>
          e.message.includes(`authorization.rules[0].path = {"prefix":"color/"}: ${AUTHZ_PATH_RULE}`),
      );
    });

    it("refuses no rules, and authorization on a listener that is not STRICT", () => {
      assert.deepEqual(problems(blueNode({ rules: [] })), [["authorization.rules", AUTHZ_NO_RULES_RULE]]);
      const permissive = blueNode(frontMayGetColor, { tlsMode: TlsMode.Permissive, allowedCallers: [] });
      assert.deepEqual(problems(permissive), [
        ["authorization", AUTHZ_STRICT_RULE],
        ["authorization.rules[0].callers[0]", AUTHZ_NOT_CALLER_RULE],
      ]);
    });

    it("refuses HTTP matchers on a tcp listener", () => {
      const tcp = blueNode(frontMayGetColor, { protocol: ListenerProtocol.Tcp });
      assert.deepEqual(problems(tcp), [
        ["authorization.rules[0].path", AUTHZ_TCP_RULE],
        ["authorization.rules[0].methods", AUTHZ_TCP_RULE],
      ]);
    });

    it("the App Mesh data plane refuses authorization: it has no per-route authorization", () => {
      assert.deepEqual(problems(blueNode(frontMayGetColor, { dataPlane: DataPlane.AppMesh })), [
        ["authorization", APPMESH_AUTHZ_RULE],
      ]);
      // The witness: the same node without it is accepted there.
      assert.ok(meshNodePlan(blueNode(undefined, { dataPlane: DataPlane.AppMesh })).appMesh);
    });
  });

  describe("rendered as Envoy RBAC", () => {
    it("HTTP: an RBAC filter before the router, ALLOW, exact principal_name, path and methods all required", () => {
      const chain = ingress(bootstrapOf(blueNode(frontMayGetColor))).filter_chains[0];
      const filters = chain.filters[0].typed_config.http_filters;
      assert.deepEqual(
        filters.map((f: Json) => f.name),
        ["envoy.filters.http.rbac", "envoy.filters.http.router"],
      );
      assert.deepEqual(filters[0].typed_config, {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        rules: {
          action: "ALLOW",
          policies: {
            "rule-0": {
              permissions: [
                {
                  and_rules: {
                    rules: [
                      { url_path: { path: { prefix: "/color" } } },
                      {
                        or_rules: {
                          rules: [
                            { header: { name: ":method", string_match: { exact: "GET" } } },
                            { header: { name: ":method", string_match: { exact: "HEAD" } } },
                          ],
                        },
                      },
                    ],
                  },
                },
              ],
              principals: [{ authenticated: { principal_name: { exact: FRONT } } }],
            },
          },
        },
      });
    });

    it("shadow: the same policies as shadow_rules with the stat prefix, and no enforced rules", () => {
      const shadow = ingress(bootstrapOf(blueNode({ ...frontMayGetColor, mode: AuthorizationMode.Shadow })));
      const enforced = ingress(bootstrapOf(blueNode(frontMayGetColor)));
      const rbac = (l: Json) => l.filter_chains[0].filters[0].typed_config.http_filters[0].typed_config;
      assert.equal(rbac(shadow).rules, undefined);
      assert.equal(rbac(shadow).shadow_rules_stat_prefix, AUTHZ_SHADOW_STAT_PREFIX);
      assert.deepEqual(rbac(shadow).shadow_rules, rbac(enforced).rules);
    });

    it("tcp: a network RBAC filter before tcp_proxy, any permission, stats under ingress_mtls.rbac.", () => {
      const tcp = blueNode({ rules: [{ callers: [FRONT] }] }, { protocol: ListenerProtocol.Tcp });
      const filters = ingress(bootstrapOf(tcp)).filter_chains[0].filters;
      assert.deepEqual(
        filters.map((f: Json) => f.name),
        ["envoy.filters.network.rbac", "envoy.filters.network.tcp_proxy"],
      );
      assert.equal(filters[0].typed_config.stat_prefix, "ingress_mtls.");
      assert.deepEqual(filters[0].typed_config.rules.policies["rule-0"], {
        permissions: [{ any: true }],
        principals: [{ authenticated: { principal_name: { exact: FRONT } } }],
      });
    });

    it("without authorization nothing changes: the router alone", () => {
      const filters = ingress(bootstrapOf(blueNode(undefined))).filter_chains[0].filters;
      assert.equal(filters.length, 1);
      assert.deepEqual(
        filters[0].typed_config.http_filters.map((f: Json) => f.name),
        ["envoy.filters.http.router"],
      );
    });
  });

  describe("judged by go-control-plane (envoy-validate)", function () {
    this.timeout(60_000);
    const cases: Record<string, MeshNodeArgs> = {
      "http enforce": blueNode({
        rules: [
          { callers: [FRONT], path: { prefix: "/color" }, methods: ["GET"] },
          { callers: [RED], path: { exact: "/ping" }, header: { name: "x-probe", exact: "yes" } },
          { callers: [FRONT, RED] },
        ],
      }),
      "http shadow": blueNode({ ...frontMayGetColor, mode: AuthorizationMode.Shadow }),
      grpc: blueNode(
        { rules: [{ callers: [FRONT], path: { prefix: "/color.Color/" }, methods: ["POST"] }] },
        { protocol: ListenerProtocol.Grpc },
      ),
      "tcp enforce": blueNode({ rules: [{ callers: [FRONT] }] }, { protocol: ListenerProtocol.Tcp }),
      "tcp shadow": blueNode(
        { mode: "shadow", rules: [{ callers: [RED] }] },
        { protocol: ListenerProtocol.Tcp },
      ),
    };

    it("every rendered RBAC bootstrap is valid", () => {
      validateEnvoyBootstraps(Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, bootstrapOf(v)])));
    });

    it("reads inside the RBAC configs: a misspelled field and a bad action in each filter are reported there", () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "authz-validate-"));
      try {
        const http = bootstrapOf(cases["http enforce"]);
        const httpRbac = ingress(http).filter_chains[0].filters[0].typed_config.http_filters[0].typed_config;
        httpRbac.rules.policies["rule-0"].principals[0].authenticated.principal_nam = FRONT;
        const tcp = bootstrapOf(cases["tcp enforce"]);
        ingress(tcp).filter_chains[0].filters[0].typed_config.rules.action = "PERMIT";
        const files = [http, tcp].map((b, i) => {
          const file = path.join(dir, `${i}.json`);
          writeFileSync(file, JSON.stringify(b));
          return file;
        });
        const run = runEnvoyValidate(files);
        assert.equal(run.status, 1);
        assert.match(run.report[0].errors.join("\n"), /principals.*unknown field "principal_nam"/);
        assert.match(run.report[1].errors.join("\n"), /rules.*action.*PERMIT/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
