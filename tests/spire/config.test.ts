/**
 * The rendered server.conf and agent.conf, parsed back with a real HCL parser (HashiCorp's, compiled to wasm in
 * @cdktf/hcl2json) and checked key by key against the walkthrough ported to SPIRE 1.13.
 */
import assert from "node:assert/strict";
import { parse } from "@cdktf/hcl2json";
import { mountedConfigMap, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: hcl2json returns untyped JSON.
type Hcl = any;

async function renderedConfs(overrides: Record<string, string> = {}) {
  const r = await renderStack("dev", overrides);
  const server = mountedConfigMap(r, "StatefulSet", "spire-server", "spire", "spire-config").data[
    "server.conf"
  ] as string;
  const agent = mountedConfigMap(r, "DaemonSet", "spire-agent", "spire", "spire-config").data[
    "agent.conf"
  ] as string;
  return {
    server: (await parse("server.conf", server)) as Hcl,
    agent: (await parse("agent.conf", agent)) as Hcl,
    text: server + agent,
  };
}

describe("SPIRE config files (dev stack)", () => {
  it("server.conf has exactly the server keys SPIRE 1.13 needs", async () => {
    const { server } = await renderedConfs();
    assert.deepEqual(Object.keys(server).sort(), ["health_checks", "plugins", "server"]);
    assert.deepEqual(server.server, [
      {
        bind_address: "0.0.0.0",
        bind_port: "8081",
        trust_domain: "howto-k8s-mtls-sds-based.aws",
        data_dir: "/run/spire/data",
        log_level: "INFO",
        audit_log_enabled: true,
        ca_key_type: "rsa-2048",
        ca_ttl: "24h",
        default_x509_svid_ttl: "1h",
        ca_subject: [{ country: ["US"], organization: ["SPIFFE"], common_name: "" }],
      },
    ]);
  });

  it("server plugins: sqlite datastore and disk keys on the data volume, k8s_psat, k8sbundle", async () => {
    const { server } = await renderedConfs();
    const [plugins] = server.plugins;
    assert.deepEqual(Object.keys(plugins).sort(), ["DataStore", "KeyManager", "NodeAttestor", "Notifier"]);
    assert.deepEqual(plugins.DataStore.sql[0].plugin_data[0], {
      database_type: "sqlite3",
      connection_string: "/run/spire/data/datastore.sqlite3",
    });
    assert.deepEqual(plugins.KeyManager.disk[0].plugin_data[0], { keys_path: "/run/spire/data/keys.json" });
    assert.deepEqual(Object.keys(plugins.NodeAttestor), ["k8s_psat"]);
    assert.deepEqual(plugins.NodeAttestor.k8s_psat[0].plugin_data[0].clusters, {
      "k8s-cluster": { service_account_allow_list: ["spire:spire-agent"], audience: ["spire-server"] },
    });
    assert.deepEqual(plugins.Notifier.k8sbundle[0].plugin_data[0], {
      namespace: "spire",
      config_map: "spire-bundle",
      config_map_key: "bundle.crt",
    });
  });

  it("server health listener serves the probes' paths", async () => {
    const { server } = await renderedConfs();
    assert.deepEqual(server.health_checks, [
      {
        listener_enabled: true,
        bind_address: "0.0.0.0",
        bind_port: "8080",
        live_path: "/live",
        ready_path: "/ready",
      },
    ]);
  });

  it("agent.conf: server address, socket, bundle file and the sds block", async () => {
    const { agent } = await renderedConfs();
    assert.deepEqual(Object.keys(agent).sort(), ["agent", "health_checks", "plugins"]);
    assert.deepEqual(agent.agent, [
      {
        data_dir: "/run/spire/data",
        log_level: "INFO",
        server_address: "spire-server.spire.svc",
        server_port: "8081",
        socket_path: "/run/spire/sockets/agent.sock",
        trust_bundle_path: "/run/spire/bundle/bundle.crt",
        trust_domain: "howto-k8s-mtls-sds-based.aws",
        sds: [
          { default_svid_name: "default", default_bundle_name: "ROOTCA", default_all_bundles_name: "ALL" },
        ],
      },
    ]);
  });

  it("agent.conf: the health listener binds loopback only (the agent runs on the host network)", async () => {
    const { agent } = await renderedConfs();
    assert.equal(agent.health_checks.length, 1);
    assert.equal(agent.health_checks[0].bind_address, "127.0.0.1");
  });

  it("agent plugins: k8s_psat with the projected token, memory keys, and the k8s attestor only (no unix)", async () => {
    const { agent } = await renderedConfs();
    const [plugins] = agent.plugins;
    assert.deepEqual(plugins.NodeAttestor, {
      k8s_psat: [
        { plugin_data: [{ cluster: "k8s-cluster", token_path: "/var/run/secrets/tokens/spire-agent" }] },
      ],
    });
    assert.deepEqual(Object.keys(plugins.KeyManager), ["memory"]);
    assert.deepEqual(plugins.WorkloadAttestor.k8s[0].plugin_data[0], { skip_kubelet_verification: true });
    // A unix attestor on a Kubernetes node would hand an identity to any process running as a uid.
    assert.deepEqual(Object.keys(plugins.WorkloadAttestor), ["k8s"]);
  });

  it("config overrides reach the files: cluster name and SVID TTL", async () => {
    const { server, agent } = await renderedConfs({ clusterName: "prod-east", svidTtl: "30m" });
    assert.equal(server.server[0].default_x509_svid_ttl, "30m");
    assert.deepEqual(Object.keys(server.plugins[0].NodeAttestor.k8s_psat[0].plugin_data[0].clusters), [
      "prod-east",
    ]);
    assert.equal(agent.plugins[0].NodeAttestor.k8s_psat[0].plugin_data[0].cluster, "prod-east");
  });

  it("contains no key SPIRE 1.13 rejects or deprecates", async () => {
    const { text } = await renderedConfs();
    for (const banned of [
      "enable_sds",
      "default_svid_ttl",
      "k8s_sat",
      "registration_uds_path",
      "whitelist",
      "NodeResolver",
    ]) {
      assert.ok(!text.includes(banned), `found ${banned}`);
    }
  });
});
