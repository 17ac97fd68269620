/**
 * envoy-validate (tools/validate/cmd/envoy-validate) accepts a realistic mesh bootstrap and rejects each kind
 * of mistake a bootstrap generator can make, naming the field path. Each negative case mutates a copy of
 * tests/fixtures/envoy/valid-bootstrap.json, so the fixture stays the single valid reference.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runEnvoyValidate, validateEnvoyBootstraps } from "../support/envoyValidator";

const fixturePath = path.resolve(__dirname, "../fixtures/envoy/valid-bootstrap.json");
const fixture: unknown = JSON.parse(readFileSync(fixturePath, "utf8"));

type JsonObject = Record<string, unknown>;
type Step = string | number;

/** The object or array at `steps` below `root`; fails loudly if the fixture no longer has it. */
function at(root: unknown, ...steps: Step[]): JsonObject {
  let node = root;
  for (const step of steps) {
    node = (node as Record<Step, unknown>)[step];
    assert.ok(node !== null && typeof node === "object", `fixture has no object at ${pathOf(steps)}`);
  }
  return node as JsonObject;
}

/** The report's spelling of a path: static_resources.clusters[0].name. */
function pathOf(steps: readonly Step[]): string {
  return steps.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

// Where things live in the fixture.
const ingress: Step[] = ["static_resources", "listeners", 0];
const egress: Step[] = ["static_resources", "listeners", 1];
const downstreamTls: Step[] = [...ingress, "filter_chains", 0, "transport_socket", "typed_config"];
const ingressHcm: Step[] = [...ingress, "filter_chains", 0, "filters", 0, "typed_config"];
const egressRoutes: Step[] = [...egress, "filter_chains", 0, "filters", 0, "typed_config", "route_config"];
const egressVirtualHost: Step[] = [...egressRoutes, "virtual_hosts", 0];
const sdsCluster: Step[] = ["static_resources", "clusters", 0];
const localCluster: Step[] = ["static_resources", "clusters", 1];
const blueCluster: Step[] = ["static_resources", "clusters", 2];
const certificateSdsSource: Step[] = [
  ...downstreamTls,
  "common_tls_context",
  "tls_certificate_sds_secret_configs",
  0,
  "sds_config",
  "api_config_source",
];

describe("envoy-validate: offline Envoy v3 bootstrap validation", () => {
  let dir: string;
  let written = 0;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "envoy-validate-test-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Validates a mutated copy of the fixture; returns its errors and checks the exit status agrees. */
  function errorsAfter(mutate: (bootstrap: unknown) => void): readonly string[] {
    const bootstrap: unknown = structuredClone(fixture);
    mutate(bootstrap);
    const file = path.join(dir, `case-${written++}.json`);
    writeFileSync(file, JSON.stringify(bootstrap, null, 2));
    const run = runEnvoyValidate([file]);
    const errors = run.report[0].errors;
    assert.equal(
      run.status,
      errors.length > 0 ? 1 : 0,
      `exit status ${run.status} for errors: ${errors.join("; ")}`,
    );
    return errors;
  }

  /** Exactly one error per expectation, each at the given path with a matching message. */
  function assertErrors(
    errors: readonly string[],
    expected: ReadonlyArray<readonly [Step[] | string, RegExp]>,
  ): void {
    const listing = `got:\n  ${errors.join("\n  ")}`;
    assert.equal(errors.length, expected.length, `expected ${expected.length} error(s), ${listing}`);
    for (const [where, message] of expected) {
      const prefix = `${typeof where === "string" ? where : pathOf(where)}: `;
      assert.ok(
        errors.some((e) => e.startsWith(prefix) && message.test(e.slice(prefix.length))),
        `expected an error at ${prefix}${message}, ${listing}`,
      );
    }
  }

  it("accepts the valid fixture", () => {
    const run = runEnvoyValidate([fixturePath]);
    assert.deepEqual(run.report, [{ file: fixturePath, errors: [] }]);
    assert.equal(run.status, 0);
  });

  it("rejects a misspelled field inside a typed_config Any, and on a Cluster, reporting both", () => {
    const errors = errorsAfter((b) => {
      const tls = at(b, ...downstreamTls);
      tls.require_client_certficate = tls.require_client_certificate;
      delete tls.require_client_certificate;
      at(b, ...localCluster).connect_timout = "1s";
    });
    assertErrors(errors, [
      [[...downstreamTls, "require_client_certficate"], /^unknown field "require_client_certficate"/],
      [[...localCluster, "connect_timout"], /^unknown field "connect_timout"/],
    ]);
  });

  it("rejects an unresolvable @type", () => {
    const errors = errorsAfter((b) => {
      at(b, ...downstreamTls)["@type"] =
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContxt";
    });
    assertErrors(errors, [[[...downstreamTls, "@type"], /unable to resolve .*DownstreamTlsContxt/]]);
  });

  it("rejects a resolvable @type in the wrong place (an UpstreamTlsContext on a listener)", () => {
    const errors = errorsAfter((b) => {
      const tls = at(b, ...downstreamTls);
      tls["@type"] = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
      delete tls.require_client_certificate; // not a field of UpstreamTlsContext
    });
    assertErrors(errors, [[downstreamTls, /UpstreamTlsContext is an upstream transport socket.*downstream/]]);
  });

  it("rejects missing required fields: health check interval, transport socket name, route cluster", () => {
    const errors = errorsAfter((b) => {
      delete at(b, ...blueCluster, "health_checks", 0).interval;
      at(b, ...blueCluster, "transport_socket").name = "";
      delete at(b, ...egressVirtualHost, "routes", 0, "route").cluster;
    });
    assertErrors(errors, [
      [[...blueCluster, "health_checks", 0, "interval"], /^value is required$/],
      [[...blueCluster, "transport_socket", "name"], /at least 1/],
      [
        [...egressVirtualHost, "routes", 0, "route", "cluster_specifier"],
        /^value is required \(set one of: cluster,/,
      ],
    ]);
  });

  it("rejects a route to a cluster that does not exist", () => {
    const missing = "cds_egress_howto-k8s-mtls-sds-based_green_howto-k8s-mtls-sds-based_http_8080";
    const errors = errorsAfter((b) => {
      at(b, ...egressVirtualHost, "routes", 1, "route").cluster = missing;
    });
    assertErrors(errors, [
      [[...egressVirtualHost, "routes", 1, "route", "cluster"], new RegExp(`^unknown cluster "${missing}"`)],
    ]);
  });

  it("rejects a router that is not the last HTTP filter", () => {
    const errors = errorsAfter((b) => {
      const filters = at(b, ...ingressHcm, "http_filters") as unknown as unknown[];
      filters.push(structuredClone(filters[0]));
    });
    assertErrors(errors, [
      [[...ingressHcm, "http_filters", 0], /must be the last filter in an HTTP filter chain/],
    ]);
  });

  it("rejects an SDS config whose cluster_name names a missing cluster", () => {
    const errors = errorsAfter((b) => {
      at(b, ...certificateSdsSource, "grpc_services", 0, "envoy_grpc").cluster_name = "sds_cluster";
    });
    assertErrors(errors, [
      [
        [...certificateSdsSource, "grpc_services", 0, "envoy_grpc", "cluster_name"],
        /"sds_cluster" is not defined in static_resources.clusters; .*statically defined non-EDS cluster/,
      ],
    ]);
  });

  it("rejects the deprecated Cluster.http2_protocol_options, and deprecated fields and enum values inside Any", () => {
    const errors = errorsAfter((b) => {
      at(b, ...sdsCluster).http2_protocol_options = {};
      const header = at(b, ...egressVirtualHost, "routes", 0, "match", "headers", 0);
      header.exact_match = "blue";
      delete header.string_match;
      at(b, ...certificateSdsSource).transport_api_version = "V2";
    });
    assertErrors(errors, [
      [[...sdsCluster, "http2_protocol_options"], /Cluster.http2_protocol_options is deprecated/],
      [
        [...egressVirtualHost, "routes", 0, "match", "headers", 0, "exact_match"],
        /HeaderMatcher.exact_match is deprecated/,
      ],
      [[...certificateSdsSource, "transport_api_version"], /enum value V2 is deprecated/],
    ]);
  });

  it("rejects a lowercase enum (strict_dns)", () => {
    const errors = errorsAfter((b) => {
      at(b, ...blueCluster).type = "strict_dns";
    });
    assertErrors(errors, [[[...blueCluster, "type"], /invalid value for enum field type: "strict_dns"/]]);
  });

  it("rejects a single object where grpc_services needs a list", () => {
    const errors = errorsAfter((b) => {
      const source = at(b, ...certificateSdsSource);
      source.grpc_services = (source.grpc_services as unknown[])[0];
    });
    assertErrors(errors, [[[...certificateSdsSource, "grpc_services"], /unexpected token \{.*JSON list/]]);
  });

  it("rejects duplicate cluster and listener names, listener addresses, filter chain matches and domains", () => {
    const errors = errorsAfter((b) => {
      const clusters = at(b, "static_resources", "clusters") as unknown as unknown[];
      clusters.push(structuredClone(clusters[1]));
      const listeners = at(b, "static_resources", "listeners") as unknown as unknown[];
      const copy = structuredClone(listeners[1]) as JsonObject;
      copy.name = "lds_ingress_0.0.0.0_15000";
      listeners.push(copy);
      const chains = at(b, ...egress, "filter_chains") as unknown as unknown[];
      chains.push(structuredClone(chains[0]));
      (at(b, ...egressRoutes, "virtual_hosts") as unknown as unknown[]).push({
        name: "shadow",
        domains: ["COLOR:8080"],
        routes: [],
      });
    });
    assertErrors(errors, [
      [
        "static_resources.clusters[4].name",
        /^duplicate cluster name .* \(also static_resources.clusters\[1\]\)/,
      ],
      ["static_resources.listeners[2].name", /^duplicate listener name "lds_ingress_0.0.0.0_15000"/],
      ["static_resources.listeners[2].address", /^duplicate listener address TCP 0.0.0.0:15001/],
      [[...egress, "filter_chains", 1, "filter_chain_match"], /same matching rules/],
      [[...egressRoutes, "virtual_hosts", 1, "domains", 0], /^duplicate domain "COLOR:8080"/],
    ]);
  });

  it("exits 2 without arguments or with an unreadable file", () => {
    assert.equal(runEnvoyValidate([]).status, 2);
    const missing = runEnvoyValidate([path.join(dir, "does-not-exist.json")]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /does-not-exist\.json/);
  });

  it("validateEnvoyBootstraps throws one error naming each bad bootstrap and its problems", () => {
    const bad: unknown = structuredClone(fixture);
    at(bad, ...blueCluster).type = "STRICT_DNS ";
    assert.doesNotThrow(() => validateEnvoyBootstraps({ blue: fixture }));
    assert.throws(
      () => validateEnvoyBootstraps({ "front/ok": fixture, "red/bad": bad }),
      (error: Error) => {
        assert.match(
          error.message,
          /^1 Envoy bootstrap problem\(s\):\n {2}red\/bad: static_resources\.clusters\[2\]\.type: /,
        );
        assert.doesNotMatch(error.message, /front\/ok/);
        return true;
      },
    );
  });
});
