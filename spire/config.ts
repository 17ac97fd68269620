/**
 * server.conf and agent.conf for SPIRE 1.13. The Kubernetes platform (k8s_psat, k8s attestor, k8sbundle,
 * in-pod paths) is one choice of `Platform`; the test harness swaps in a local one (join_token, unix attestor,
 * temp paths) and keeps everything else identical, so what the tests prove is what we deploy.
 */
import { ValidationError } from "../core/validation";
import { federationBlock, NO_EXPANSION_RULE } from "./federation";
import { block, type HclBlock, type HclBody, type HclValue, plugin, renderHcl } from "./hcl";
import type { SpireSettings } from "./settings";

export interface ServerPlatform {
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly dataDir: string;
  /** Admin API socket; undefined keeps SPIRE's default, which the in-pod CLI also defaults to. */
  readonly socketPath?: string;
  readonly healthBindAddress: string;
  readonly healthPort: number;
  readonly nodeAttestors: readonly HclBlock[];
  readonly notifiers: readonly HclBlock[];
  /** Extra `server` keys a platform needs (the harness turns the attestation rate limit off). */
  readonly extraServer?: HclBody;
  /** Directory holding the disk upstream authority's tls.crt, tls.key (and bundle), when it is used. */
  readonly upstreamCaDir: string;
  /** Where the Prometheus listener binds, when telemetry is on; the port is the settings' unless overridden. */
  readonly telemetryHost: string;
  readonly telemetryPort?: number;
  /** Where the federation bundle endpoint binds; the port is the settings' unless overridden. */
  readonly bundleEndpointAddress: string;
  readonly bundleEndpointPort?: number;
}

export interface AgentPlatform {
  readonly serverAddress: string;
  readonly serverPort: number;
  readonly dataDir: string;
  readonly socketPath: string;
  /** Exactly one of these: a bundle file written by the k8sbundle notifier, or bootstrap without one (tests). */
  readonly trustBundlePath?: string;
  readonly insecureBootstrap?: boolean;
  readonly healthBindAddress: string;
  readonly healthPort: number;
  readonly nodeAttestor: HclBlock;
  readonly keyManager: HclBlock;
  readonly workloadAttestors: readonly HclBlock[];
  readonly telemetryHost: string;
  readonly telemetryPort?: number;
}

/** In-pod locations shared by the config and the manifests that mount them. */
export const podPaths = {
  configDir: "/run/spire/config",
  serverDataDir: "/run/spire/data",
  agentDataDir: "/run/spire/data",
  bundleDir: "/run/spire/bundle",
  bundleKey: "bundle.crt",
  agentTokenDir: "/var/run/secrets/tokens",
  agentTokenFile: "spire-agent",
  /** The CLI's default admin socket; an emptyDir lives here because the root filesystem is read-only. */
  serverSocketDir: "/tmp/spire-server/private",
  /** The disk upstream authority's Secret, mounted read-only. */
  upstreamCaDir: "/run/spire/upstream",
} as const;

/**
 * The environment variable that carries the PostgreSQL connection string into server.conf: the server runs with
 * -expandEnv, which substitutes it into the file's text before parsing, so the secret never sits in a ConfigMap.
 */
export const DATASTORE_ENV = "SPIRE_DATASTORE_CONNECTION_STRING";
/**
 * The node's address, from the downward API: the agent shares the node's network, so its telemetry listener
 * binds there (-expandEnv fills it in) rather than on every interface of the host.
 */
export const NODE_IP_ENV = "SPIRE_AGENT_NODE_IP";
/** How server.conf and agent.conf name an environment variable for -expandEnv to fill in. */
const reference = (variable: string) => `\${${variable}}`;

/** Keys of the disk upstream authority's Secret (the kubernetes.io/tls layout). */
export const upstreamCaKeys = { cert: "tls.crt", key: "tls.key" } as const;

export function kubernetesServerPlatform(s: SpireSettings): ServerPlatform {
  return {
    bindAddress: "0.0.0.0",
    bindPort: s.serverPort,
    dataDir: podPaths.serverDataDir,
    healthBindAddress: "0.0.0.0",
    healthPort: s.serverHealthPort,
    upstreamCaDir: podPaths.upstreamCaDir,
    // Scraped from other pods: the listener must not stay on SPIRE's default, localhost. The pod's own network.
    telemetryHost: "0.0.0.0",
    // Peers in other clusters reach it through its Service.
    bundleEndpointAddress: "0.0.0.0",
    nodeAttestors: [
      plugin("NodeAttestor", "k8s_psat", [
        [
          "clusters",
          {
            [s.clusterName]: {
              service_account_allow_list: [`${s.namespace}:${s.agentName}`],
              audience: ["spire-server"],
            },
          },
        ],
      ]),
    ],
    notifiers: [
      plugin("Notifier", "k8sbundle", [
        ["namespace", s.namespace],
        ["config_map", s.bundleConfigMap],
        ["config_map_key", podPaths.bundleKey],
      ]),
    ],
  };
}

export function kubernetesAgentPlatform(s: SpireSettings): AgentPlatform {
  return {
    serverAddress: `${s.serverName}.${s.namespace}.svc`,
    serverPort: s.serverPort,
    dataDir: podPaths.agentDataDir,
    socketPath: s.agentSocketPath,
    trustBundlePath: `${podPaths.bundleDir}/${podPaths.bundleKey}`,
    // The agent shares the node's network: its health listener stays on loopback, where the kubelet probes it.
    healthBindAddress: "127.0.0.1",
    healthPort: s.agentHealthPort,
    nodeAttestor: plugin("NodeAttestor", "k8s_psat", [
      ["cluster", s.clusterName],
      ["token_path", `${podPaths.agentTokenDir}/${podPaths.agentTokenFile}`],
    ]),
    // Agent keys stay in memory: nothing private is written to the node.
    keyManager: plugin("KeyManager", "memory"),
    // k8s only: a unix attestor on a node would let any process of a uid claim a workload's identity.
    workloadAttestors: [
      plugin("WorkloadAttestor", "k8s", [["skip_kubelet_verification", s.skipKubeletVerification]]),
    ],
    telemetryHost: reference(NODE_IP_ENV),
  };
}

const telemetry = (host: string, port: number): HclBlock =>
  block(
    "telemetry",
    [],
    [
      block(
        "Prometheus",
        [],
        [
          ["host", host],
          ["port", port],
        ],
      ),
    ],
  );

/**
 * sqlite keeps the datastore and the CA key on the server's volume. With postgres the entries live in the shared
 * database and each server keeps its own CA key on a volume of its own (one per replica): a restarted server then
 * signs under the root agents already trust. Keys in memory were tried and rejected: without an upstream CA a
 * restarted server mints a new root, and an agent that reaches only it cannot verify it (measured in
 * tests/local/ha.test.ts); after a restart of every server no agent could.
 */
function datastorePlugins(s: SpireSettings, dataDir: string): HclBlock[] {
  const keys = plugin("KeyManager", "disk", [["keys_path", `${dataDir}/keys.json`]]);
  if (s.datastore.type === "postgres") {
    return [
      plugin("DataStore", "sql", [
        ["database_type", "postgres"],
        ["connection_string", reference(DATASTORE_ENV)],
        // Every replica opens up to this many: together they must fit the database's max_connections.
        ...(s.datastore.maxOpenConns !== undefined
          ? [["max_open_conns", s.datastore.maxOpenConns] as const]
          : []),
      ]),
      keys,
    ];
  }
  return [
    plugin("DataStore", "sql", [
      ["database_type", "sqlite3"],
      ["connection_string", `${dataDir}/datastore.sqlite3`],
    ]),
    keys,
  ];
}

function upstreamAuthority(s: SpireSettings, p: ServerPlatform): HclBlock[] {
  const u = s.upstreamAuthority;
  if (u.type === "disk") {
    return [
      plugin("UpstreamAuthority", "disk", [
        ["cert_file_path", `${p.upstreamCaDir}/${upstreamCaKeys.cert}`],
        ["key_file_path", `${p.upstreamCaDir}/${upstreamCaKeys.key}`],
        ...(u.bundleKey ? [["bundle_file_path", `${p.upstreamCaDir}/${u.bundleKey}`] as const] : []),
      ]),
    ];
  }
  if (u.type === "awsPca") {
    return [
      plugin("UpstreamAuthority", "aws_pca", [
        ["region", u.region],
        ["certificate_authority_arn", u.certificateAuthorityArn],
        // Named, not left to the plugin's default: the IAM policy allows IssueCertificate with this one only.
        ["ca_signing_template_arn", u.signingTemplateArn],
      ]),
    ];
  }
  return [];
}

const healthChecks = (bindAddress: string, port: number): HclBlock =>
  block(
    "health_checks",
    [],
    [
      ["listener_enabled", true],
      ["bind_address", bindAddress],
      ["bind_port", String(port)],
      ["live_path", "/live"],
      ["ready_path", "/ready"],
    ],
  );

export function serverConfig(s: SpireSettings, p: ServerPlatform): HclBody {
  const server: HclBody = [
    ["bind_address", p.bindAddress],
    ["bind_port", String(p.bindPort)],
    ...(p.socketPath ? [["socket_path", p.socketPath] as const] : []),
    ["trust_domain", s.trustDomain],
    ["data_dir", p.dataDir],
    ["log_level", s.logLevel],
    // Every admin API call (entries, bundles, agents) logged with its caller: who changed trust, and when.
    ["audit_log_enabled", true],
    ["ca_key_type", s.caKeyType],
    ["ca_ttl", s.caTtl],
    ["default_x509_svid_ttl", s.x509SvidTtl],
    block(
      "ca_subject",
      [],
      [
        ["country", ["US"]],
        ["organization", ["SPIFFE"]],
        ["common_name", ""],
      ],
    ),
    ...(s.serverCacheReloadInterval
      ? [block("experimental", [], [["cache_reload_interval", s.serverCacheReloadInterval]])]
      : []),
    ...(s.federation ? [federationBlock(s.federation, p.bundleEndpointAddress, p.bundleEndpointPort)] : []),
    ...(p.extraServer ?? []),
  ];
  return [
    block("server", [], server),
    block(
      "plugins",
      [],
      [...datastorePlugins(s, p.dataDir), ...upstreamAuthority(s, p), ...p.nodeAttestors, ...p.notifiers],
    ),
    healthChecks(p.healthBindAddress, p.healthPort),
    ...(s.telemetry ? [telemetry(p.telemetryHost, p.telemetryPort ?? s.telemetry.serverPort)] : []),
  ];
}

export function agentConfig(s: SpireSettings, p: AgentPlatform): HclBody {
  const agent: HclBody = [
    ["data_dir", p.dataDir],
    ["log_level", s.logLevel],
    ["server_address", p.serverAddress],
    ["server_port", String(p.serverPort)],
    ["socket_path", p.socketPath],
    ...(p.trustBundlePath ? [["trust_bundle_path", p.trustBundlePath] as const] : []),
    ...(p.insecureBootstrap ? [["insecure_bootstrap", true] as const] : []),
    ["trust_domain", s.trustDomain],
    // Secret names: a SPIFFE ID returns that SVID and spiffe://<td> the bundle, which is what App Mesh and our
    // Envoy bootstraps request. The defaults are spelled out so they can never shadow a SPIFFE ID.
    block(
      "sds",
      [],
      [
        ["default_svid_name", "default"],
        ["default_bundle_name", "ROOTCA"],
        ["default_all_bundles_name", "ALL"],
      ],
    ),
    ...(s.agentSyncInterval ? [block("experimental", [], [["sync_interval", s.agentSyncInterval]])] : []),
  ];
  return [
    block("agent", [], agent),
    block("plugins", [], [p.nodeAttestor, p.keyManager, ...p.workloadAttestors]),
    healthChecks(p.healthBindAddress, p.healthPort),
    ...(s.telemetry ? [telemetry(p.telemetryHost, p.telemetryPort ?? s.telemetry.agentPort)] : []),
  ];
}

/** The only `$` each file may hold: our own references, by the key that holds them, which -expandEnv fills in. */
const OWN_REFERENCES = {
  server: { connection_string: reference(DATASTORE_ENV) },
  agent: { host: reference(NODE_IP_ENV) },
} as const;

/**
 * Every string in `body` (values, map keys, block labels) that holds a `$`, by its path in the file, except our
 * own references. The argument checks name the fields users set; this is the net under all of them.
 */
function expansions(
  body: HclBody,
  at: string,
  own: Readonly<Record<string, string>>,
): { field: string; value: string }[] {
  const found: { field: string; value: string }[] = [];
  const visit = (v: HclValue, field: string) => {
    if (typeof v === "string") {
      const key = field.slice(field.lastIndexOf(".") + 1);
      if (v.includes("$") && !Object.entries(own).some(([k, value]) => k === key && value === v)) {
        found.push({ field, value: v });
      }
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) visit(x, `${field}[${i}]`);
    } else if (typeof v === "object") {
      for (const [k, x] of Object.entries(v as Record<string, HclValue>)) {
        if (k.includes("$")) found.push({ field: `${field} key`, value: k });
        visit(x, `${field}.${k}`);
      }
    }
  };
  for (const item of body) {
    if ("block" in item) {
      const path = [at, item.block, ...item.labels.map((l) => JSON.stringify(l))].filter(Boolean).join(".");
      for (const label of item.labels)
        if (label.includes("$")) found.push({ field: `${path} label`, value: label });
      found.push(...expansions(item.body, path, own));
    } else visit(item[1], [at, item[0]].filter(Boolean).join("."));
  }
  return found;
}

/** The file's text; throws naming the setting when any value would be expanded by -expandEnv. */
function renderChecked(file: keyof typeof OWN_REFERENCES, body: HclBody): string {
  const found = expansions(body, "", OWN_REFERENCES[file]);
  if (found.length > 0) {
    throw new ValidationError(
      `SpireInstallation ${file}.conf`,
      found.map(({ field, value }) => ({ field, value, rule: NO_EXPANSION_RULE })),
    );
  }
  return `${renderHcl(body)}\n`;
}

export const renderServerConf = (s: SpireSettings, p = kubernetesServerPlatform(s)): string =>
  renderChecked("server", serverConfig(s, p));

export const renderAgentConf = (s: SpireSettings, p = kubernetesAgentPlatform(s)): string =>
  renderChecked("agent", agentConfig(s, p));
