/**
 * The gateway's Envoy bootstrap, judged by Envoy's own API rules (go-control-plane, as every bootstrap is) in each
 * listener mode, and read for what it must do: routes in priority order through the virtual service's router,
 * App Mesh's default rewrites, one mTLS cluster per target with exactly that target's SAN, health checks,
 * admin on loopback only.
 */
import * as assert from "node:assert/strict";
import { DataPlane } from "../../mesh/envoySidecar";
import type { GatewayArgs } from "../../mesh/gateway";
import { EDGE_TLS_DIR, type GatewayListenerArgs } from "../../mesh/gatewayListener";
import { gatewayPlan } from "../../mesh/gatewayObjects";
import { TlsMode, type VirtualNodeArgs } from "../../mesh/virtualNode";
import { validateEnvoyBootstraps } from "../support/envoyValidator";
import { baseName, kubernetesObjects, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are plain JSON.
type Json = any;

const TD = "howto-k8s-mtls-sds-based.aws";
const NS = "shop";
const node = (name: string, extra: Partial<VirtualNodeArgs> = {}): VirtualNodeArgs => ({
  name,
  namespace: NS,
  podSelector: { app: name },
  trustDomain: TD,
  identity: `spiffe://${TD}/${name}`,
  ...extra,
});

/** An edge gateway: /pricing by header to two versions, /pricing/beta and /ledger to one node each. */
const args = (listener: GatewayListenerArgs = {}): GatewayArgs => ({
  name: "edge",
  namespace: NS,
  trustDomain: TD,
  identity: `spiffe://${TD}/edge`,
  listener,
  backends: [
    {
      virtualService: "pricing",
      hostname: `pricing.${NS}.svc.cluster.local`,
      routes: [
        { name: "v2", header: "x-version", value: "2", target: node("pricing-v2") },
        { name: "v1", target: node("pricing-v1", { healthCheck: { path: "/healthz" } }) },
      ],
    },
    {
      virtualService: "ledger",
      hostname: `ledger.${NS}.svc.cluster.local`,
      routes: [{ name: "all", target: node("ledger") }],
    },
  ],
  routes: [
    { prefix: "/ledger", virtualService: "ledger" },
    { prefix: "/pricing", virtualService: "pricing" },
    {
      name: "beta",
      prefix: "/pricing/beta",
      header: { name: "x-beta", value: "yes" },
      virtualService: "pricing",
    },
  ],
});

const bootstrapOf = (a: GatewayArgs): Json => gatewayPlan(a).bootstrap;
const listener = (b: Json) =>
  b.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_ingress_"));
const routesOf = (b: Json) =>
  listener(b).filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes as Json[];

describe("gateway bootstraps", () => {
  it("are valid in every listener mode, and the dev stack's with gateway=true", async () => {
    const rendered = kubernetesObjects(await renderStack("dev", { gateway: "true" }))
      .filter((o) => o.kind === "ConfigMap" && o.data?.["bootstrap.json"])
      .map((o) => [baseName(o.metadata.name), JSON.parse(o.data["bootstrap.json"])]);
    const dev = Object.fromEntries(rendered);
    assert.ok("gateway-envoy" in dev, Object.keys(dev).join(", "));
    validateEnvoyBootstraps({
      ...dev,
      strict: bootstrapOf(args({ tlsMode: TlsMode.Strict, callers: [`spiffe://${TD}/partner`] })),
      edge: bootstrapOf(args({ tlsMode: TlsMode.Strict, edgeTlsSecret: "edge-tls", port: 8443 })),
      permissive: bootstrapOf(args({ tlsMode: TlsMode.Permissive })),
      plaintext: bootstrapOf(args()),
      tuned: bootstrapOf(
        args({
          xffNumTrustedHops: 2,
          requestHeadersTimeoutMillis: 1500,
          streamIdleTimeoutMillis: 60_000,
          maxConnections: 50_000,
        }),
      ),
    });
  });

  it("tries the longest prefix first, each through its router's routes, rewritten as App Mesh does", () => {
    const routes = routesOf(bootstrapOf(args()));
    assert.deepEqual(
      routes.map((r) => [
        r.name,
        r.match.path_separated_prefix,
        (r.match.headers ?? []).map((h: Json) => `${h.name}=${h.string_match.exact}`),
      ]),
      [
        ["beta-v2", "/pricing/beta", ["x-beta=yes", "x-version=2"]],
        ["beta-v1", "/pricing/beta", ["x-beta=yes"]],
        ["edge-pricing-v2", "/pricing", ["x-version=2"]],
        ["edge-pricing-v1", "/pricing", []],
        ["edge-ledger-all", "/ledger", []],
      ],
    );
    for (const r of routes) {
      assert.equal(r.route.prefix_rewrite, "/");
      assert.match(r.route.host_rewrite_literal, /^(pricing|ledger)\.shop\.svc\.cluster\.local$/);
    }
  });

  it("reaches each target over mTLS with its own SVID and exactly that target's SAN, health checked", () => {
    const b = bootstrapOf(args());
    const upstream = b.static_resources.clusters.filter((c: Json) => c.transport_socket);
    assert.deepEqual(
      upstream.map((c: Json) => {
        const ctx = c.transport_socket.typed_config.common_tls_context;
        return [
          c.name,
          ctx.tls_certificate_sds_secret_configs[0].name,
          ctx.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map(
            (m: Json) => m.matcher.exact,
          ),
          c.health_checks[0].http_health_check.path,
        ];
      }),
      [
        [
          "cds_egress_shop_pricing-v2_shop_http_8080",
          `spiffe://${TD}/edge`,
          [`spiffe://${TD}/pricing-v2`],
          "/ping",
        ],
        [
          "cds_egress_shop_pricing-v1_shop_http_8080",
          `spiffe://${TD}/edge`,
          [`spiffe://${TD}/pricing-v1`],
          "/healthz",
        ],
        ["cds_egress_shop_ledger_shop_http_8080", `spiffe://${TD}/edge`, [`spiffe://${TD}/ledger`], "/ping"],
      ],
    );
    assert.deepEqual(
      new Set(routesOf(b).map((r) => r.route.cluster)),
      new Set(upstream.map((c: Json) => c.name)),
      "every route leads to one of them, and nothing else has a cluster",
    );
    assert.deepEqual(b.admin.address, { pipe: { path: "/run/envoy-admin/admin.sock", mode: 0o600 } });
  });

  it("STRICT admits exactly its callers; an edge listener presents the mounted Secret and asks for no certificate", () => {
    const strict = listener(
      bootstrapOf(args({ tlsMode: TlsMode.Strict, callers: [`spiffe://${TD}/partner`] })),
    );
    const mtls = strict.filter_chains[0].transport_socket.typed_config;
    assert.equal(mtls.require_client_certificate, true);
    assert.deepEqual(
      mtls.common_tls_context.combined_validation_context.default_validation_context
        .match_typed_subject_alt_names,
      [{ san_type: "URI", matcher: { exact: `spiffe://${TD}/partner` } }],
    );
    const plan = gatewayPlan(args({ tlsMode: TlsMode.Strict, edgeTlsSecret: "edge-tls" }));
    const edge = listener(plan.bootstrap).filter_chains[0].transport_socket.typed_config;
    assert.equal(edge.require_client_certificate, false);
    const [cert] = edge.common_tls_context.tls_certificates;
    // The files are the Secret's keys where the Deployment mounts it.
    const pod = (plan.objects.deployment as Json).spec.template.spec;
    const mount = pod.containers[0].volumeMounts.find((m: Json) => m.mountPath === EDGE_TLS_DIR);
    assert.equal(pod.volumes.find((v: Json) => v.name === mount.name).secret.secretName, "edge-tls");
    assert.deepEqual(
      [cert.certificate_chain.filename, cert.private_key.filename, cert.watched_directory.path],
      [`${mount.mountPath}/tls.crt`, `${mount.mountPath}/tls.key`, mount.mountPath],
    );
  });

  it("is an edge: client from the connection, paths normalized, escaped slashes refused, deadlines, no x-envoy headers", () => {
    const b = bootstrapOf(args({ xffNumTrustedHops: 1, requestHeadersTimeoutMillis: 2500 }));
    const { route_config: _, http_filters, ...hcm } = listener(b).filter_chains[0].filters[0].typed_config;
    assert.deepEqual(hcm, {
      "@type":
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      stat_prefix: "ingress_plaintext",
      use_remote_address: true,
      xff_num_trusted_hops: 1,
      normalize_path: true,
      merge_slashes: true,
      path_with_escaped_slashes_action: "REJECT_REQUEST",
      request_headers_timeout: "2.5s",
      stream_idle_timeout: "300s",
    });
    assert.deepEqual(http_filters[0].typed_config.suppress_envoy_headers, true);
    // Defaults: no trusted hop (the field left out), 10 s for headers.
    const plain = listener(bootstrapOf(args())).filter_chains[0].filters[0].typed_config;
    assert.equal(plain.xff_num_trusted_hops, undefined);
    assert.equal(plain.request_headers_timeout, "10s");
  });

  it("caps connections with the overload manager; readiness and admin stay reachable at the cap", () => {
    const b = bootstrapOf(args({ maxConnections: 300 }));
    assert.deepEqual(b.overload_manager, {
      resource_monitors: [
        {
          name: "envoy.resource_monitors.global_downstream_max_connections",
          typed_config: {
            "@type":
              "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
            max_active_downstream_connections: "300",
          },
        },
      ],
    });
    assert.equal(
      bootstrapOf(args()).overload_manager.resource_monitors[0].typed_config
        .max_active_downstream_connections,
      "1024",
    );
    const readiness = b.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_readiness_"));
    assert.equal(readiness.ignore_global_conn_limit, true);
    assert.equal(listener(b).ignore_global_conn_limit, undefined, "the gateway's listener is under the cap");
    assert.equal(b.admin.ignore_global_conn_limit, true);
  });

  it("a root route stays a plain prefix, a prefix ending in / too; the rest are path-separated", () => {
    const a = args();
    const routes = routesOf(
      bootstrapOf({
        ...a,
        routes: [
          ...a.routes,
          { name: "root", prefix: "/", virtualService: "ledger" },
          { name: "dir", prefix: "/docs/", virtualService: "ledger" },
        ],
      }),
    );
    assert.deepEqual(
      routes.filter((r) => r.name.startsWith("root") || r.name.startsWith("dir")).map((r) => r.match),
      [{ prefix: "/docs/" }, { prefix: "/" }],
    );
  });

  it("go-control-plane refuses what the edge fields must not be: a 0 cap, a path-separated prefix ending in /, an unknown action", () => {
    const b = bootstrapOf(args());
    b.overload_manager.resource_monitors[0].typed_config.max_active_downstream_connections = "0";
    routesOf(b)[0].match.path_separated_prefix = "/pricing/";
    listener(b).filter_chains[0].filters[0].typed_config.path_with_escaped_slashes_action = "REJECT";
    // A bad enum ends the parse, so the two value rules are checked next, without it.
    assert.throws(
      () => validateEnvoyBootstraps({ b }),
      /path_with_escaped_slashes_action: invalid value for enum field/,
    );
    delete listener(b).filter_chains[0].filters[0].typed_config.path_with_escaped_slashes_action;
    assert.throws(
      () => validateEnvoyBootstraps({ b }),
      (e: Error) =>
        /max_active_downstream_connections.*greater than 0/i.test(e.message) &&
        /path_separated_prefix/i.test(e.message),
    );
  });

  it("a field Envoy does not have, in a gateway route, is caught", () => {
    const b = bootstrapOf(args());
    routesOf(b)[0].route.host_rewrite = "pricing";
    assert.throws(() => validateEnvoyBootstraps({ b }), /host_rewrite/);
  });

  it("appmesh renders no bootstrap: the controller configures the gateway's Envoy", () => {
    assert.equal(gatewayPlan({ ...args(), dataPlane: DataPlane.AppMesh }).bootstrap, undefined);
  });
});
