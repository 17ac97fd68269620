/**
 * The local sidecar runs only bootstraps it fully models: every rendered one is accepted, and a field Envoy
 * would act on but the sidecar does not model is refused with its path, never silently ignored.
 */
import * as assert from "node:assert/strict";
import { sidecarPlan } from "../../local/bootstrapPlan";
import { kubernetesObjects, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are edited as plain JSON.
type Json = any;

async function bootstraps(overrides: Record<string, string> = {}): Promise<Record<string, Json>> {
  const objects = kubernetesObjects(await renderStack("dev", overrides));
  return Object.fromEntries(
    objects
      .filter((o) => o.kind === "ConfigMap" && o.data?.["bootstrap.json"])
      .map((o) => [o.metadata.name.replace(/-[0-9a-f]{10}$/, ""), JSON.parse(o.data["bootstrap.json"])]),
  );
}

describe("local sidecar: the bootstrap fields it models", () => {
  it("accepts every bootstrap the dev stack renders", async () => {
    const all = await bootstraps();
    assert.equal(Object.keys(all).length, 4);
    for (const b of Object.values(all)) assert.ok(sidecarPlan(b).secrets.length >= 2);
  });

  it("runs a gateway's bootstrap as Envoy alone: its listener routes into the mesh, with the rendered rewrites", async () => {
    const all = await bootstraps({ gateway: "true" });
    const plan = sidecarPlan(all["gateway-envoy"]);
    assert.equal(plan.app, undefined, "no app behind a gateway");
    assert.deepEqual(plan.egress, []);
    const routes = plan.ingress.gateway?.routes ?? [];
    assert.deepEqual(
      routes.map((r) => [r.prefix, r.headers.map((h) => `${h.name}=${h.value}`).join(), r.prefixRewrite]),
      [
        ["/color", "color_header=blue", "/"],
        ["/color", "color_header=green", "/"],
        ["/color", "color_header=red", "/"],
      ],
    );
    // Each route's cluster is one the sidecar reaches over mTLS with exactly that colour's SAN.
    for (const r of routes) {
      const cluster = plan.clusters.find((c) => c.name === r.cluster);
      const color = r.headers[0].value;
      assert.deepEqual(cluster?.tls.allowedSans, [`spiffe://howto-k8s-mtls-sds-based.aws/color${color}`]);
      assert.equal(r.hostRewrite, "color.howto-k8s-mtls-sds-based.svc.cluster.local");
    }
  });

  const edits: [string, (b: Json) => void, RegExp][] = [
    [
      "a listener field",
      (b) => {
        b.static_resources.listeners[0].per_connection_buffer_limit_bytes = 1024;
      },
      /bootstrap\.static_resources\.listeners\[0\]\.per_connection_buffer_limit_bytes is not modelled/,
    ],
    [
      "an HTTP connection manager option",
      (b) => {
        b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.use_remote_address = true;
      },
      /filters\[0\]\.typed_config\.use_remote_address is not modelled/,
    ],
    [
      "an HTTP filter of another type (RBAC)",
      (b) => {
        b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters.unshift({
          name: "envoy.filters.http.rbac",
          typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC" },
        });
      },
      /http_filters\[0\]\.typed_config: @type type\.googleapis\.com\/envoy\.extensions\.filters\.http\.rbac\.v3\.RBAC is not modelled/,
    ],
    [
      "a TLS parameter (cipher suites)",
      (b) => {
        const ctx =
          b.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context;
        ctx.tls_params.cipher_suites = ["ECDHE-RSA-AES128-GCM-SHA256"];
      },
      /common_tls_context\.tls_params\.cipher_suites is not modelled/,
    ],
    [
      "a route action option (a regex rewrite)",
      (b) => {
        const routes =
          b.static_resources.listeners.at(-1).filter_chains[0].filters[0].typed_config.route_config
            .virtual_hosts[0].routes;
        routes[0].route.regex_rewrite = { pattern: { regex: "^/" }, substitution: "/ping" };
      },
      /routes\[0\]\.route\.regex_rewrite is not modelled/,
    ],
    [
      "a cluster outlier detection",
      (b) => {
        b.static_resources.clusters[0].outlier_detection = { consecutive_5xx: 1 };
      },
      /clusters\[0\]\.outlier_detection is not modelled/,
    ],
  ];
  for (const [what, edit, message] of edits) {
    it(`refuses ${what}, naming its path`, async () => {
      const b = structuredClone((await bootstraps())["blue-envoy"]);
      edit(b);
      assert.throws(() => sidecarPlan(b), message);
    });
  }
});
