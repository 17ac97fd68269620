/**
 * The Envoy bootstrap fields the local sidecar models, message type by message type. A field that is not listed
 * is refused, with its path: Envoy would act on it and the sidecar would not, so a test passing on loopback
 * would prove nothing about it. Adding a field here means modelling it in sidecar.ts first.
 *
 * A message is `{ field: spec }`; a spec is LEAF (a value the plan reads and checks itself), an enum (the only
 * values the sidecar models; any other is refused), a nested message, a list (`[spec]`, every element checked,
 * and the plan reads them all), a list the sidecar models with exactly one element (`one(spec)`), or an Any
 * dispatched by its `@type`.
 */

// biome-ignore lint/suspicious/noExplicitAny: bootstraps are walked as plain JSON.
type Json = any;

const LEAF = "leaf" as const;
type Spec = typeof LEAF | Message | readonly [Spec] | AnyOf | OneOf | EnumOf | MapOf;
interface Message {
  readonly [field: string]: Spec;
}
interface AnyOf {
  readonly anyOf: Readonly<Record<string, Message>>;
}
interface OneOf {
  readonly one: Spec;
}
interface EnumOf {
  readonly enum: readonly (string | number | boolean)[];
}
/** A proto map: any key, every value checked. */
interface MapOf {
  readonly map: Spec;
}

const tagged = (s: Spec, tag: string) =>
  typeof s === "object" && !Array.isArray(s) && Object.keys(s).length === 1 && Object.hasOwn(s, tag);
const isAnyOf = (s: Spec): s is AnyOf => tagged(s, "anyOf");
const isOne = (s: Spec): s is OneOf => tagged(s, "one");
const isEnum = (s: Spec): s is EnumOf => tagged(s, "enum");
const isMap = (s: Spec): s is MapOf => tagged(s, "map");

/** A list the sidecar reads exactly one element of: a second one is refused rather than ignored. */
const one = (spec: Spec): OneOf => ({ one: spec });
const only = (...values: (string | number | boolean)[]): EnumOf => ({ enum: values });

const address: Message = {
  socket_address: { address: LEAF, port_value: LEAF },
  // mode: the admin socket's, which the sidecar sets after binding as Envoy does (a connecting pipe ignores it).
  pipe: { path: LEAF, mode: LEAF },
};

const sdsSecret: Message = {
  name: LEAF,
  sds_config: {
    // 0s: no listener before every secret arrived. A finite timeout would let Envoy go live without them after
    // that long, which the sidecar does not model.
    initial_fetch_timeout: only("0s"),
    // SDS v3 over gRPC to the SDS cluster (the plan checks cluster_name names it): all the sidecar speaks.
    resource_api_version: only("V3"),
    api_config_source: {
      api_type: only("GRPC"),
      transport_api_version: only("V3"),
      grpc_services: one({ envoy_grpc: { cluster_name: LEAF } }),
    },
  },
};

const tlsVersion = only("TLSv1_2", "TLSv1_3");

const commonTlsContext: Message = {
  tls_params: { tls_minimum_protocol_version: tlsVersion, tls_maximum_protocol_version: tlsVersion },
  alpn_protocols: [LEAF],
  // Envoy may hold several certificates (one per key type) and pick by the peer; the sidecar holds one.
  tls_certificate_sds_secret_configs: one(sdsSecret),
  validation_context_sds_secret_config: sdsSecret,
  combined_validation_context: {
    default_validation_context: {
      // The sidecar compares URI SANs only; a DNS, EMAIL or IP matcher would match other names.
      match_typed_subject_alt_names: [{ san_type: only("URI"), matcher: { exact: LEAF } }],
    },
    validation_context_sds_secret_config: sdsSecret,
  },
};

const transportSocket = (tls: Record<string, Message>): Message => ({
  // Envoy goes by typed_config's @type; the name is a label.
  name: LEAF,
  typed_config: { anyOf: tls },
});

const routeConfig: Message = {
  name: LEAF,
  // Envoy picks a virtual host by the most specific domain; the sidecar models one host per route table.
  virtual_hosts: one({
    name: LEAF,
    domains: [LEAF],
    routes: [
      {
        name: LEAF,
        match: {
          prefix: LEAF,
          // Modelled: the path equals it, or continues with "/" after it.
          path_separated_prefix: LEAF,
          path: LEAF,
          headers: [{ name: LEAF, string_match: { exact: LEAF } }],
        },
        // Modelled: a gateway's routes rewrite the matched prefix and the Host, as App Mesh's do.
        route: { cluster: LEAF, prefix_rewrite: LEAF, host_rewrite_literal: LEAF },
      },
    ],
  }),
};

/**
 * Envoy's RBAC rules, the subset sidecarRbac.ts models: ALLOW policies of exact SPIFFE IDs, and permissions
 * of path, exact headers (`:method`) and any, combined by one level of or_rules inside one of and_rules.
 */
const headerExact = { name: LEAF, string_match: { exact: LEAF } };
const leafPermission: Message = {
  any: only(true),
  url_path: { path: { exact: LEAF, prefix: LEAF } },
  header: headerExact,
};
const orPermission: Message = { ...leafPermission, or_rules: { rules: [leafPermission] } };
const rbacRules: Message = {
  action: only("ALLOW"),
  policies: {
    map: {
      permissions: [{ ...orPermission, and_rules: { rules: [orPermission] } }],
      principals: [{ authenticated: { principal_name: { exact: LEAF } } }],
    },
  },
};
/** Enforced rules, or shadow rules (counted under their stat prefix, never refusing). */
const rbacConfig: Message = { rules: rbacRules, shadow_rules: rbacRules, shadow_rules_stat_prefix: LEAF };

const networkFilter: Message = {
  name: LEAF,
  typed_config: {
    anyOf: {
      "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager":
        {
          // Stat names only; the sidecar keeps Envoy-shaped counters of its own.
          stat_prefix: LEAF,
          // Modelled (sidecarHcm.ts): who the client is, X-Forwarded-For/-Proto, x-envoy-external-address, and
          // which client x-envoy-* headers Envoy strips (no address is internal: internal_address_config is
          // refused, and Envoy >= 1.36 trusts none by default).
          use_remote_address: only(true, false),
          xff_num_trusted_hops: LEAF,
          // Modelled: dot segments removed, slashes merged, escaped slashes refused (400) before routing.
          normalize_path: only(true, false),
          merge_slashes: only(true, false),
          path_with_escaped_slashes_action: only("KEEP_UNCHANGED", "REJECT_REQUEST"),
          // Modelled on HTTP/1.1: 408 for headers not complete in time; 408 (or a reset) for an idle stream.
          request_headers_timeout: LEAF,
          stream_idle_timeout: LEAF,
          route_config: routeConfig,
          // The router, after at most RBAC (the plan checks the order): any other filter would act on the request.
          http_filters: [
            {
              name: LEAF,
              typed_config: {
                anyOf: {
                  "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router": {
                    // Modelled: without it the router adds x-envoy-expected-rq-timeout-ms upstream and
                    // x-envoy-upstream-service-time to the response.
                    suppress_envoy_headers: only(true, false),
                  },
                  "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC": rbacConfig,
                },
              },
            },
          ],
        },
      "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy": {
        stat_prefix: LEAF,
        cluster: LEAF,
      },
      "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC": {
        stat_prefix: LEAF,
        ...rbacConfig,
      },
    },
  },
};

const listener: Message = {
  name: LEAF,
  address,
  // Modelled: a listener that ignores it still accepts at the overload manager's connection cap.
  ignore_global_conn_limit: only(true, false),
  listener_filters: one({
    name: LEAF,
    typed_config: {
      anyOf: { "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector": {} },
    },
  }),
  filter_chains: [
    {
      // tls_inspector's "tls", or "raw_buffer" for everything else; the plan picks chains as Envoy does.
      filter_chain_match: { transport_protocol: only("tls", "raw_buffer") },
      transport_socket: transportSocket({
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext": {
          require_client_certificate: only(true, false),
          common_tls_context: commonTlsContext,
        },
      }),
      // One protocol filter per chain, after at most network RBAC (the plan checks the order).
      filters: [networkFilter],
    },
  ],
};

const healthCheck: Message = {
  timeout: LEAF,
  interval: LEAF,
  healthy_threshold: LEAF,
  unhealthy_threshold: LEAF,
  http_health_check: { path: LEAF, codec_client_type: only("HTTP1", "HTTP2") },
  grpc_health_check: {},
  tcp_health_check: {},
};

const cluster: Message = {
  name: LEAF,
  // Both resolve one endpoint here, which the sidecar maps to a local address (STATIC: an IP literal).
  type: only("STATIC", "STRICT_DNS"),
  // Modelled: the sidecar gives up on an upstream connection (TCP and TLS handshake) after it.
  connect_timeout: LEAF,
  // IPv4 only: the sidecar's loopback mapping has no other family to choose.
  dns_lookup_family: only("V4_ONLY"),
  load_assignment: {
    // Names the assignment; for STATIC and STRICT_DNS clusters Envoy does not look it up.
    cluster_name: LEAF,
    // One locality with one endpoint: Envoy would balance across more, the sidecar maps one address per cluster.
    endpoints: one({ lb_endpoints: one({ endpoint: { address } }) }),
  },
  transport_socket: transportSocket({
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext": {
      common_tls_context: commonTlsContext,
    },
  }),
  // Envoy requires every one of several checks to pass; the sidecar runs one.
  health_checks: one(healthCheck),
  // Modelled: with the endpoint unhealthy, Envoy routes to it anyway (panic) when the threshold is above 0%.
  common_lb_config: { healthy_panic_threshold: { value: LEAF } },
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
  // The plan demands true when there is a connection cap: the sidecar's admin interface counts no connection.
  admin: { address, ignore_global_conn_limit: only(true, false) },
  // Modelled: the one proactive monitor, Envoy's global downstream connection cap (closed on accept beyond it).
  overload_manager: {
    resource_monitors: one({
      name: only("envoy.resource_monitors.global_downstream_max_connections"),
      typed_config: {
        anyOf: {
          "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig":
            { max_active_downstream_connections: LEAF },
        },
      },
    }),
  },
  static_resources: { listeners: [listener], clusters: [cluster] },
};

function check(value: Json, spec: Spec, path: string, problems: string[]): void {
  if (spec === LEAF || value === undefined) return;
  if (isEnum(spec)) {
    if (!spec.enum.includes(value)) {
      problems.push(
        `${path}: ${JSON.stringify(value)} is not modelled by the local sidecar (it models ${spec.enum
          .map((v) => JSON.stringify(v))
          .join(", ")})`,
      );
    }
    return;
  }
  if (Array.isArray(spec) || isOne(spec)) {
    const inner = isOne(spec) ? spec.one : (spec as readonly [Spec])[0];
    if (!Array.isArray(value)) return void problems.push(`${path}: expected a list`);
    if (isOne(spec) && value.length !== 1) {
      problems.push(
        `${path}: ${value.length} elements; the local sidecar models exactly one (Envoy would act on every one)`,
      );
    }
    for (const [i, item] of value.entries()) check(item, inner, `${path}[${i}]`, problems);
    return;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    problems.push(`${path}: expected a message`);
    return;
  }
  if (isMap(spec)) {
    for (const [key, inner] of Object.entries(value)) check(inner, spec.map, `${path}.${key}`, problems);
    return;
  }
  let fields: Message = spec as Message;
  if (isAnyOf(spec)) {
    const type = value["@type"];
    if (typeof type !== "string" || !Object.hasOwn(spec.anyOf, type)) {
      problems.push(`${path}: @type ${type} is not modelled by the local sidecar`);
      return;
    }
    fields = { "@type": LEAF, ...spec.anyOf[type] };
  }
  for (const [key, inner] of Object.entries(value)) {
    if (!Object.hasOwn(fields, key)) problems.push(`${path}.${key} is not modelled by the local sidecar`);
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
