/**
 * The Envoy bootstrap fields the local sidecar models, message type by message type. A field that is not listed
 * is refused, with its path: Envoy would act on it and the sidecar would not, so a test passing on loopback
 * would prove nothing about it. Adding a field here means modelling it in sidecar.ts first.
 *
 * A message is `{ field: spec }`; a spec is LEAF (a value the plan reads or that has no effect on loopback, said
 * why), a nested message, a list of one message (`[message]`), or an Any dispatched by its `@type`.
 */

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

const LEAF = "leaf" as const;
type Spec = typeof LEAF | Message | readonly [Spec] | AnyOf;
interface Message {
  readonly [field: string]: Spec;
}
interface AnyOf {
  readonly anyOf: Readonly<Record<string, Message>>;
}

const isAnyOf = (s: Spec): s is AnyOf => typeof s === "object" && "anyOf" in s;

const address: Message = {
  socket_address: { address: LEAF, port_value: LEAF },
  pipe: { path: LEAF },
};

const sdsSecret: Message = {
  name: LEAF,
  sds_config: {
    // Modelled: 0s makes the sidecar start no listener before every secret arrived.
    initial_fetch_timeout: LEAF,
    // The sidecar speaks SDS v3 over gRPC to the agent socket: the only combination these fields can name.
    resource_api_version: LEAF,
    api_config_source: {
      api_type: LEAF,
      transport_api_version: LEAF,
      grpc_services: [{ envoy_grpc: { cluster_name: LEAF } }],
    },
  },
};

const commonTlsContext: Message = {
  tls_params: { tls_minimum_protocol_version: LEAF, tls_maximum_protocol_version: LEAF },
  alpn_protocols: LEAF,
  tls_certificate_sds_secret_configs: [sdsSecret],
  validation_context_sds_secret_config: sdsSecret,
  combined_validation_context: {
    default_validation_context: {
      match_typed_subject_alt_names: [{ san_type: LEAF, matcher: { exact: LEAF } }],
    },
    validation_context_sds_secret_config: sdsSecret,
  },
};

const transportSocket = (tls: Record<string, Message>): Message => ({
  name: LEAF,
  typed_config: { anyOf: tls },
});

const routeConfig: Message = {
  name: LEAF,
  virtual_hosts: [
    {
      name: LEAF,
      domains: LEAF,
      routes: [
        {
          name: LEAF,
          match: {
            prefix: LEAF,
            path: LEAF,
            headers: [{ name: LEAF, string_match: { exact: LEAF } }],
          },
          // Modelled: a gateway's routes rewrite the matched prefix and the Host, as App Mesh's do.
          route: { cluster: LEAF, prefix_rewrite: LEAF, host_rewrite_literal: LEAF },
        },
      ],
    },
  ],
};

const networkFilter: Message = {
  name: LEAF,
  typed_config: {
    anyOf: {
      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager":
        {
          // Stat names only; the sidecar keeps Envoy-shaped counters of its own.
          stat_prefix: LEAF,
          route_config: routeConfig,
          http_filters: [
            {
              name: LEAF,
              typed_config: {
                anyOf: { "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router": {} },
              },
            },
          ],
        },
      "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy": {
        stat_prefix: LEAF,
        cluster: LEAF,
      },
    },
  },
};

const listener: Message = {
  name: LEAF,
  address,
  listener_filters: [
    {
      name: LEAF,
      typed_config: {
        anyOf: { "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": {} },
      },
    },
  ],
  filter_chains: [
    {
      filter_chain_match: { transport_protocol: LEAF },
      transport_socket: transportSocket({
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": {
          require_client_certificate: LEAF,
          common_tls_context: commonTlsContext,
        },
      }),
      filters: [networkFilter],
    },
  ],
};

const healthCheck: Message = {
  timeout: LEAF,
  interval: LEAF,
  healthy_threshold: LEAF,
  unhealthy_threshold: LEAF,
  http_health_check: { path: LEAF, codec_client_type: LEAF },
  grpc_health_check: {},
  tcp_health_check: {},
};

const cluster: Message = {
  name: LEAF,
  // STATIC or STRICT_DNS: both resolve one endpoint here, which the sidecar maps to a local address.
  type: LEAF,
  connect_timeout: LEAF,
  dns_lookup_family: LEAF,
  load_assignment: {
    cluster_name: LEAF,
    endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }],
  },
  transport_socket: transportSocket({
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext": {
      common_tls_context: commonTlsContext,
    },
  }),
  health_checks: [healthCheck],
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      anyOf: {
        "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
    },
  },
};

const bootstrap: Message = {
  // The SDS request's node; the agent ignores what it does not use.
  node: { id: LEAF, cluster: LEAF, metadata: LEAF },
  admin: { address },
  static_resources: { listeners: [listener], clusters: [cluster] },
};

function check(value: Json, spec: Spec, path: string, problems: string[]): void {
  if (spec === LEAF || value === undefined) return;
  if (Array.isArray(spec)) {
    if (!Array.isArray(value)) problems.push(`${path}: expected a list`);
    else for (const [i, item] of value.entries()) check(item, spec[0], `${path}[${i}]`, problems);
    return;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`${path}: expected a message`);
    return;
  }
  let fields: Message = spec as Message;
  if (isAnyOf(spec)) {
    const type = value["@type"];
    if (!(type in spec.anyOf)) {
      problems.push(`${path}: @type ${type} is not modelled by the local sidecar`);
      return;
    }
    fields = { "@type": LEAF, ...spec.anyOf[type] };
  }
  for (const [key, inner] of Object.entries(value)) {
    if (!(key in fields)) problems.push(`${path}.${key} is not modelled by the local sidecar`);
    else check(inner, fields[key], `${path}.${key}`, problems);
  }
}

/** Throws naming every bootstrap field the sidecar does not model. */
export function checkModeledFields(b: Json): void {
  const problems: string[] = [];
  check(b, bootstrap, "bootstrap", problems);
  if (problems.length > 0) {
    throw new Error(`the local sidecar cannot run this bootstrap faithfully:\n  ${problems.join("\n  ")}`);
  }
}
