/**
 * Every bootstrap the stacks render, judged by Envoy's own API rules (go-control-plane: strict protojson, PGV on
 * every message and every typed_config, load-time cross-references, no deprecated fields).
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { ListenerProtocol, TlsMode } from "../../mesh/virtualNode";
import { validateEnvoyBootstraps } from "../support/envoyValidator";
import { baseName, kubernetesObjects, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are plain JSON.
type Json = any;

async function renderedBootstraps(
  stack: string,
  overrides: Record<string, string> = {},
  projectDir?: string,
) {
  const objects = kubernetesObjects(await renderStack(stack, overrides, projectDir));
  const configMaps = objects.filter((o) => o.kind === "ConfigMap" && o.data?.["bootstrap.json"]);
  return Object.fromEntries(
    configMaps.map((o) => [baseName(o.metadata.name), JSON.parse(o.data["bootstrap.json"]) as Json]),
  );
}

/** Every combined_validation_context in a bootstrap (listener and cluster TLS), in document order. */
function combinedValidations(node: Json): Json[] {
  if (node === null || typeof node !== "object") return [];
  const own = "combined_validation_context" in node ? [node.combined_validation_context] : [];
  return [...own, ...Object.values(node).flatMap(combinedValidations)];
}

describe("rendered Envoy bootstraps against Envoy's API", () => {
  it("dev stack: front, blue, green and red are valid", async () => {
    const bootstraps = await renderedBootstraps("dev");
    assert.deepEqual(Object.keys(bootstraps).sort(), [
      "blue-envoy",
      "front-envoy",
      "green-envoy",
      "red-envoy",
    ]);
    validateEnvoyBootstraps(bootstraps);
  });

  it("the EKS stack and the example consumer (with its ledger service) are valid", async () => {
    validateEnvoyBootstraps(await renderedBootstraps("eks"));
    const consumer = await renderedBootstraps("dev", {}, path.resolve(__dirname, "../../examples/consumer"));
    assert.ok("ledger-envoy" in consumer);
    validateEnvoyBootstraps(consumer);
  });

  it("examples/federation: east's greeter and west's caller, each checking its peer on SPIRE's ALL, are valid", async () => {
    const project = path.resolve(__dirname, "../../examples/federation");
    const east = await renderedBootstraps("east", {}, project);
    const west = await renderedBootstraps("west", {}, project);
    assert.deepEqual(Object.keys(east), ["greeter-envoy"]);
    assert.deepEqual(Object.keys(west), ["caller-envoy"]);
    const bootstraps = { "east/greeter": east["greeter-envoy"], "west/caller": west["caller-envoy"] };
    // What makes these the federated path: the peer's exact ID from the other trust domain, validated against
    // the ALL secret with the SPIFFE validator left on.
    const peers = {
      "east/greeter": "spiffe://west.example/ns/west/sa/caller",
      "west/caller": "spiffe://east.example/ns/east/sa/greeter",
    };
    for (const [name, bootstrap] of Object.entries(bootstraps)) {
      assert.equal(bootstrap.node.metadata.disable_spiffe_cert_validation, false, name);
      assert.deepEqual(
        combinedValidations(bootstrap).map((v) => [
          v.validation_context_sds_secret_config.name,
          v.default_validation_context.match_typed_subject_alt_names.map((m: Json) => m.matcher.exact),
        ]),
        [["ALL", [peers[name as keyof typeof peers]]]],
        name,
      );
    }
    validateEnvoyBootstraps(bootstraps);
  });

  it("a PERMISSIVE node and a node without callers are valid", () => {
    const base = {
      namespace: "ledger",
      podSelector: { app: "ledger" },
      trustDomain: "example.org",
      identity: "spiffe://example.org/ledger",
      dataPlane: DataPlane.Envoy,
    };
    const permissive = meshNodePlan({ ...base, name: "ledger", tlsMode: TlsMode.Permissive });
    const open = meshNodePlan({ ...base, name: "open" });
    validateEnvoyBootstraps({ permissive: permissive.envoy?.bootstrap, open: open.envoy?.bootstrap });
  });

  it("tcp, http2 and grpc nodes and their callers are valid, each with its protocol's filters and options", () => {
    const planFor = (protocol: ListenerProtocol) => {
      const server = {
        name: `server-${protocol}`,
        namespace: "proto",
        podSelector: { app: `server-${protocol}` },
        trustDomain: "example.org",
        identity: `spiffe://example.org/server-${protocol}`,
        protocol,
        tlsMode: TlsMode.Strict,
        allowedCallers: ["spiffe://example.org/client"],
      };
      const client = meshNodePlan({
        name: `client-${protocol}`,
        namespace: "proto",
        podSelector: { app: "client" },
        trustDomain: "example.org",
        identity: "spiffe://example.org/client",
        backends: [server.name],
        allowedServers: [server.identity],
        egress: [
          {
            virtualService: server.name,
            hostname: `${server.name}.proto`,
            routes: [{ name: "all", target: server }],
          },
        ],
      });
      return {
        server: meshNodePlan(server).envoy?.bootstrap as Json,
        client: client.envoy?.bootstrap as Json,
      };
    };
    const all: Record<string, unknown> = {};
    for (const protocol of [ListenerProtocol.Tcp, ListenerProtocol.Http2, ListenerProtocol.Grpc]) {
      const { server, client } = planFor(protocol);
      all[`server-${protocol}`] = server;
      all[`client-${protocol}`] = client;
      const ingress = server.static_resources.listeners.find((l: Json) => l.name.startsWith("lds_ingress_"));
      const filter = ingress.filter_chains[0].filters[0];
      const alpn = ingress.filter_chains[0].transport_socket.typed_config.common_tls_context.alpn_protocols;
      const upstream = client.static_resources.clusters.find((c: Json) => c.transport_socket);
      if (protocol === ListenerProtocol.Tcp) {
        assert.equal(filter.name, "envoy.filters.network.tcp_proxy");
        assert.equal(alpn, undefined);
        assert.deepEqual(
          Object.keys(upstream.health_checks[0]).filter((k) => k.endsWith("_check")),
          ["tcp_health_check"],
        );
      } else {
        assert.equal(filter.name, "envoy.filters.network.http_connection_manager");
        assert.deepEqual(alpn, ["h2"]);
        assert.ok(upstream.typed_extension_protocol_options, "HTTP/2 to the backend");
        assert.deepEqual(upstream.transport_socket.typed_config.common_tls_context.alpn_protocols, ["h2"]);
        const app = server.static_resources.clusters.find((c: Json) => c.name.startsWith("cds_ingress_"));
        assert.ok(app.typed_extension_protocol_options, "HTTP/2 to the app");
      }
    }
    validateEnvoyBootstraps(all);
  });

  // One of each kind of mistake, made in a bootstrap we render, must be caught.
  const mutations: [string, (b: Json) => void, RegExp][] = [
    [
      "a typo in a field inside a typed_config",
      (b) => {
        const tls = b.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config;
        tls.require_client_certficate = tls.require_client_certificate;
        delete tls.require_client_certificate;
      },
      /require_client_certficate/,
    ],
    [
      "a wrong @type",
      (b) => {
        b.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config["@type"] =
          "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
      },
      /upstream/i,
    ],
    [
      "an admin socket mode beyond 0777",
      (b) => {
        b.admin.address.pipe.mode = 0o1000;
      },
      /admin\.address\.pipe\.mode: value must be less than or equal to 511/,
    ],
    [
      "an admin socket without a path",
      (b) => {
        b.admin.address.pipe.path = "";
      },
      /admin\.address\.pipe\.path: value length must be at least 1 runes/,
    ],
    [
      "a missing required field",
      (b) => {
        delete b.static_resources.clusters.find((c: Json) => c.name === "static_cluster_sds_unix_socket")
          .name;
      },
      /name/,
    ],
  ];
  for (const [title, mutate, message] of mutations) {
    it(`rejects ${title}`, async () => {
      const blue = structuredClone((await renderedBootstraps("dev"))["blue-envoy"]);
      mutate(blue);
      assert.throws(() => validateEnvoyBootstraps({ blue }), message);
    });
  }
});
