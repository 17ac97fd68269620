/**
 * An Envoy-like Secret Discovery Service (SDS v3) client for tests: it talks to the SPIRE agent's Unix socket the
 * way an Envoy sidecar does, with unary FetchSecrets or bidi StreamSecrets (ACKing every push), and decodes the
 * returned `Secret`s. Private keys stay in memory: a decoded certificate only says whether a key came with it and
 * offers an accessor for TLS use; nothing here writes key material anywhere.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import * as protobuf from "protobufjs";

export const SECRET_TYPE_URL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const SPIFFE_VALIDATOR_NAME = "envoy.tls.cert_validator.spiffe";
const SPIFFE_VALIDATOR_TYPE_URL =
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig";
/** Sent as `user_agent_build_version`; SPIRE answers Envoy >= 1.18 with the SPIFFE validator form. */
const DEFAULT_ENVOY_VERSION = "1.34.0";
const DEFAULT_TIMEOUT_MS = 10_000;

/** The Envoy API protos (and their imports) ship with @grpc/grpc-js-xds. */
const PROTO_DEPS = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const INCLUDE_DIRS = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) =>
  path.join(PROTO_DEPS, d),
);

export interface SdsNode {
  readonly id?: string;
  readonly cluster?: string;
  /** Node metadata, e.g. `{ disable_spiffe_cert_validation: true }`; converted to a google.protobuf.Struct. */
  readonly metadata?: Record<string, unknown>;
  /** `major.minor.patch` sent as `user_agent_build_version`, or null to omit it. Default 1.34.0. */
  readonly envoyVersion?: string | null;
}

export interface SdsOptions {
  readonly node?: SdsNode;
  /** Deadline of a FetchSecrets call. Default 10 s. */
  readonly timeoutMs?: number;
}

export interface SdsTlsCertificate {
  readonly certificateChainPem: string;
  readonly hasPrivateKey: boolean;
  /** The PEM private key, kept only in this closure (not enumerable data, so never printed or serialized). */
  readonly privateKeyPem: () => string;
}

export interface SdsSpiffeTrustDomain {
  readonly trustDomain: string;
  readonly bundlePem: string;
}

export interface SdsValidationContext {
  readonly trustedCaPem?: string;
  readonly spiffe?: readonly SdsSpiffeTrustDomain[];
}

export interface SdsSecret {
  readonly name: string;
  readonly tlsCertificate?: SdsTlsCertificate;
  readonly validationContext?: SdsValidationContext;
}

/** One DiscoveryResponse: `versionInfo`/`nonce` are empty for FetchSecrets. */
export interface SdsVersion {
  readonly versionInfo: string;
  readonly nonce: string;
  readonly secrets: readonly SdsSecret[];
}

/** A failed SDS call, with the gRPC status SPIRE returned. */
export class SdsError extends Error {
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`SDS ${grpc.status[code] ?? code}: ${details}`);
    this.name = "SdsError";
  }
}

// --- wire types (proto-loader with keepCase) -------------------------------------------------------------------

interface AnyMessage {
  readonly type_url: string;
  readonly value: Buffer;
}

interface DiscoveryResponse {
  readonly version_info?: string;
  readonly resources?: readonly AnyMessage[];
  readonly type_url?: string;
  readonly nonce?: string;
}

interface SdsServiceClient extends grpc.Client {
  FetchSecrets(
    request: object,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: DiscoveryResponse) => void,
  ): grpc.ClientUnaryCall;
  StreamSecrets(options?: grpc.CallOptions): grpc.ClientDuplexStream<object, DiscoveryResponse>;
}

type SdsServiceClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => SdsServiceClient;

let serviceClient: SdsServiceClientConstructor | undefined;
let secretTypes: { secret: protobuf.Type; spiffeValidator: protobuf.Type } | undefined;

function sdsServiceClient(): SdsServiceClientConstructor {
  if (!serviceClient) {
    const definition = protoLoader.loadSync(["envoy/service/secret/v3/sds.proto"], {
      keepCase: true,
      longs: String,
      enums: String,
      oneofs: true,
      includeDirs: INCLUDE_DIRS,
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      envoy: { service: { secret: { v3: { SecretDiscoveryService: SdsServiceClientConstructor } } } };
    };
    serviceClient = loaded.envoy.service.secret.v3.SecretDiscoveryService;
  }
  return serviceClient;
}

/** proto-loader leaves `Any` payloads as bytes; a protobufjs Root over the same protos decodes them. */
function decoders(): { secret: protobuf.Type; spiffeValidator: protobuf.Type } {
  if (!secretTypes) {
    const root = new protobuf.Root();
    // google/protobuf/descriptor.proto (imported by the annotation protos) ships with protobufjs itself.
    const searchDirs = [...INCLUDE_DIRS, path.dirname(require.resolve("protobufjs/package.json"))];
    root.resolvePath = (origin, target) => {
      for (const dir of searchDirs) {
        const candidate = path.join(dir, target);
        if (fs.existsSync(candidate)) return candidate;
      }
      return protobuf.util.path.resolve(origin, target);
    };
    root.loadSync(
      [
        "envoy/extensions/transport_sockets/tls/v3/secret.proto",
        "envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto",
      ],
      { keepCase: true },
    );
    secretTypes = {
      secret: root.lookupType("envoy.extensions.transport_sockets.tls.v3.Secret"),
      spiffeValidator: root.lookupType("envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig"),
    };
  }
  return secretTypes;
}

// --- requests ---------------------------------------------------------------------------------------------------

/**
 * A JSON-ish value as a google.protobuf.Value: proto-loader does not convert plain objects to a Struct, and
 * protobufjs bundles struct.proto with camelCase field names, whatever `keepCase` says (snake_case is dropped).
 */
function toProtoValue(value: unknown): object {
  if (value === null || value === undefined) return { nullValue: "NULL_VALUE" };
  if (typeof value === "boolean") return { boolValue: value };
  if (typeof value === "number") return { numberValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toProtoValue) } };
  return { structValue: toProtoStruct(value as Record<string, unknown>) };
}

function toProtoStruct(fields: Record<string, unknown>): object {
  return { fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, toProtoValue(v)])) };
}

function nodeMessage(node: SdsNode = {}): object {
  const version = node.envoyVersion === undefined ? DEFAULT_ENVOY_VERSION : node.envoyVersion;
  const [major, minor, patch] = (version ?? "").split(".").map(Number);
  return {
    id: node.id ?? "sidecar~127.0.0.1~spire-mesh-test~default.svc.cluster.local",
    cluster: node.cluster ?? "spire-mesh-test",
    ...(node.metadata ? { metadata: toProtoStruct(node.metadata) } : {}),
    user_agent_name: "envoy",
    ...(version
      ? {
          user_agent_build_version: {
            version: { major_number: major, minor_number: minor, patch: patch ?? 0 },
          },
        }
      : {}),
  };
}

function discoveryRequest(
  resourceNames: readonly string[],
  node: SdsNode | undefined,
  ack?: { versionInfo: string; nonce: string },
): object {
  return {
    version_info: ack?.versionInfo ?? "",
    node: nodeMessage(node),
    resource_names: [...resourceNames],
    type_url: SECRET_TYPE_URL,
    response_nonce: ack?.nonce ?? "",
  };
}

// --- responses --------------------------------------------------------------------------------------------------

interface DataSource {
  readonly filename?: string;
  readonly inline_bytes?: Uint8Array;
  readonly inline_string?: string;
}

interface DecodedSecret {
  readonly name?: string;
  readonly tls_certificate?: { readonly certificate_chain?: DataSource; readonly private_key?: DataSource };
  readonly validation_context?: {
    readonly trusted_ca?: DataSource;
    readonly custom_validator_config?: { readonly name?: string; readonly typed_config?: AnyMessage };
  };
}

interface DecodedSpiffeValidator {
  readonly trust_domains?: readonly { readonly name?: string; readonly trust_bundle?: DataSource }[];
}

/** SPIRE always sends inline bytes; anything else would be a surprise worth failing on. */
function inlineText(source: DataSource | undefined, what: string): string {
  if (source?.inline_bytes) return Buffer.from(source.inline_bytes).toString("utf8");
  if (source?.inline_string !== undefined) return source.inline_string;
  throw new Error(`SDS ${what} is not inline: ${JSON.stringify(Object.keys(source ?? {}))}`);
}

function decodeSecret(resource: AnyMessage): SdsSecret {
  if (resource.type_url !== SECRET_TYPE_URL)
    throw new Error(`unexpected SDS resource type ${resource.type_url}`);
  const types = decoders();
  const secret = types.secret.toObject(types.secret.decode(resource.value)) as DecodedSecret;
  const name = secret.name ?? "";

  if (secret.tls_certificate) {
    const keySource = secret.tls_certificate.private_key;
    return {
      name,
      tlsCertificate: {
        certificateChainPem: inlineText(
          secret.tls_certificate.certificate_chain,
          `${name} certificate_chain`,
        ),
        hasPrivateKey: Boolean(keySource?.inline_bytes?.length || keySource?.inline_string),
        privateKeyPem: () => inlineText(keySource, `${name} private_key`),
      },
    };
  }

  const context = secret.validation_context;
  if (!context) throw new Error(`SDS secret ${name} carries neither a certificate nor a validation context`);
  const validator = context.custom_validator_config;
  if (!validator) return { name, validationContext: { trustedCaPem: inlineText(context.trusted_ca, name) } };
  if (
    validator.name !== SPIFFE_VALIDATOR_NAME ||
    validator.typed_config?.type_url !== SPIFFE_VALIDATOR_TYPE_URL
  ) {
    throw new Error(`SDS secret ${name} has an unknown validator ${validator.name}`);
  }
  const config = types.spiffeValidator.toObject(
    types.spiffeValidator.decode(validator.typed_config.value),
  ) as DecodedSpiffeValidator;
  const spiffe = (config.trust_domains ?? []).map((td) => ({
    trustDomain: td.name ?? "",
    bundlePem: inlineText(td.trust_bundle, `${name} trust bundle of ${td.name}`),
  }));
  return {
    name,
    validationContext: {
      ...(context.trusted_ca ? { trustedCaPem: inlineText(context.trusted_ca, name) } : {}),
      spiffe,
    },
  };
}

function decodeResponse(response: DiscoveryResponse): SdsVersion {
  return {
    versionInfo: response.version_info ?? "",
    nonce: response.nonce ?? "",
    secrets: (response.resources ?? []).map(decodeSecret),
  };
}

const toSdsError = (error: grpc.ServiceError): SdsError => new SdsError(error.code, error.details);

function connect(socketPath: string): SdsServiceClient {
  const Client = sdsServiceClient();
  return new Client(`unix://${path.resolve(socketPath)}`, grpc.credentials.createInsecure());
}

// --- public API -------------------------------------------------------------------------------------------------

/** One unary FetchSecrets call; rejects with an SdsError on a gRPC error (e.g. InvalidArgument "not authorized"). */
export async function fetchSecrets(
  socketPath: string,
  resourceNames: readonly string[],
  options: SdsOptions = {},
): Promise<SdsSecret[]> {
  const client = connect(socketPath);
  try {
    const response = await new Promise<DiscoveryResponse>((resolve, reject) => {
      client.FetchSecrets(
        discoveryRequest(resourceNames, options.node),
        { deadline: Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS) },
        (error, reply) => (error ? reject(toSdsError(error)) : resolve(reply ?? {})),
      );
    });
    return [...decodeResponse(response).secrets];
  } finally {
    client.close();
  }
}

export interface SdsStream {
  /** The next pushed version (already ACKed); rejects after `timeoutMs` or when the stream failed. */
  next(timeoutMs?: number): Promise<SdsVersion>;
  /** Every version received so far, oldest first. */
  readonly received: readonly SdsVersion[];
  close(): void;
}

/**
 * A StreamSecrets subscription. Like Envoy, it ACKs every response by echoing its version_info and nonce with the
 * same resource names; SPIRE ignores requests with a stale nonce and logs a NACK for a wrong version.
 */
export function streamSecrets(
  socketPath: string,
  resourceNames: readonly string[],
  options: Pick<SdsOptions, "node"> = {},
): SdsStream {
  const client = connect(socketPath);
  const call = client.StreamSecrets();
  const received: SdsVersion[] = [];
  const queue: SdsVersion[] = [];
  const waiters: { resolve: (v: SdsVersion) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  let closed = false;

  const fail = (error: Error) => {
    failure ??= error;
    for (const waiter of waiters.splice(0)) waiter.reject(failure);
  };

  call.on("data", (response: DiscoveryResponse) => {
    let version: SdsVersion;
    try {
      version = decodeResponse(response);
    } catch (error) {
      fail(error as Error);
      return;
    }
    call.write(discoveryRequest(resourceNames, options.node, version));
    received.push(version);
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(version);
    else queue.push(version);
  });
  call.on("error", (error: grpc.ServiceError) => {
    if (!(closed && error.code === grpc.status.CANCELLED)) fail(toSdsError(error));
  });
  call.on("end", () => fail(new Error("SDS stream ended")));
  call.write(discoveryRequest(resourceNames, options.node));

  return {
    received,
    next(timeoutMs = DEFAULT_TIMEOUT_MS) {
      const queued = queue.shift();
      if (queued) return Promise.resolve(queued);
      if (failure) return Promise.reject(failure);
      return new Promise<SdsVersion>((resolve, reject) => {
        const waiter = {
          resolve: (v: SdsVersion) => {
            clearTimeout(timer);
            resolve(v);
          },
          reject: (e: Error) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no SDS push within ${timeoutMs} ms (${received.length} received so far)`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      call.cancel();
      client.close();
      fail(new Error("SDS stream closed"));
    },
  };
}
