/**
 * Every bootstrap the stacks render, judged by Envoy's own API rules (go-control-plane: strict protojson, PGV on
 * every message and every typed_config, load-time cross-references, no deprecated fields).
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { DataPlane } from "../../mesh/envoySidecar";
import { meshNodePlan } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";
import { validateEnvoyBootstraps } from "../support/envoyValidator";
import { kubernetesObjects, renderStack } from "../support/render";

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
    configMaps.map((o) => [o.metadata.name, JSON.parse(o.data["bootstrap.json"]) as Json]),
  );
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
