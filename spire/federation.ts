/**
 * SPIFFE federation between SPIRE installations: the server's bundle endpoint, the trust domains it federates
 * with, and the `federation` block of server.conf. Checked like every other SpireInstallation argument, before
 * any resource exists. The `spire-server bundle` commands that exchange trust are bundles.ts's. Pure: no Pulumi.
 *
 * Facts checked on spire-server 1.13.3 (tests/spire/federation.test.ts): the block validates; without a
 * `profile` in the own bundle_endpoint the server warns that this will become fatal, so it is always written;
 * entries show `federates_with` as bare trust-domain names.
 */
import { isIP } from "node:net";
import { type Checker, isDnsSubdomain, isPort, parseDuration, ValidationError } from "../core/validation";
import { block, type HclBlock } from "./hcl";
import type { PassThrough } from "./production";
import { checkPublicBundle } from "./publicBundle";
import { parseSpiffeId, parseTrustDomain } from "./spiffeId";

export type BundleEndpointProfile = "https_spiffe" | "https_web";
export type BundleServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";

export interface BundleEndpointArgs {
  /** Port the server serves its bundle on (and the Service exposes). Default 8443, SPIRE's documented port. */
  readonly port?: number;
  /**
   * How peers authenticate the endpoint. `https_spiffe` (default): the server's own SVID, so a peer needs this
   * domain's bundle once (bootstrap) and keeps it fresh from then on. `https_web`: a Web PKI certificate from
   * `servingCertSecret`; peers need no bootstrap.
   */
  readonly profile?: BundleEndpointProfile;
  /** https_web: a kubernetes.io/tls Secret in the SPIRE namespace with the endpoint's certificate and key. */
  readonly servingCertSecret?: string;
  /** How often peers should poll (`refresh_hint`). Default SPIRE's 5m; SPIRE ignores less than 1m. */
  readonly refreshHint?: string;
  /** Type of the Service that exposes the endpoint to the other cluster. Default LoadBalancer. */
  readonly serviceType?: BundleServiceType;
  /**
   * LoadBalancer: an internet-facing load balancer instead of the default internal one (the annotations AWS,
   * GKE and AKS read: INTERNAL_LB_ANNOTATIONS). Requires `sourceRanges`. Default false.
   */
  readonly internetFacing?: boolean;
  /** LoadBalancer: the peers' address ranges (CIDRs) the load balancer admits (`loadBalancerSourceRanges`). */
  readonly sourceRanges?: readonly string[];
  /** Annotations of that Service, over the internal ones (another cloud's internal load balancer, say). */
  readonly serviceAnnotations?: Readonly<Record<string, string>>;
  /**
   * Host name or address peers reach the endpoint at, when known in advance (DNS name of the load balancer,
   * a node address for NodePort). Default: the LoadBalancer's address once it has one, else the Service's
   * in-cluster name.
   */
  readonly advertisedHost?: string;
}

export interface FederatedDomainArgs {
  /** The peer's trust domain, e.g. "east.example". */
  readonly trustDomain: string;
  /** The peer's bundle endpoint; must be https. */
  readonly bundleEndpointUrl: string;
  /** How the peer's endpoint authenticates itself. Default https_spiffe. */
  readonly profile?: BundleEndpointProfile;
  /** https_spiffe: the peer server's SPIFFE ID, normally `spiffe://<peer>/spire/server`. */
  readonly endpointSpiffeId?: string;
  /**
   * https_spiffe: the peer's bundle in SPIFFE format (`spire-server bundle show -format spiffe`, the peer
   * installation's `bundle` output, e.g. through a StackReference). It is given to this server once with
   * `bundle set`, to trust the peer's endpoint at first contact; SPIRE keeps it fresh afterwards. Public
   * certificates only: a bundle holding private key parameters is refused.
   */
  readonly bundle?: PassThrough<string | undefined>;
}

export interface FederationArgs {
  /** This server's own bundle endpoint, for the peers. */
  readonly bundleEndpoint?: BundleEndpointArgs;
  /** Trust domains whose workloads this installation's workloads may trust (with `federatesWith`). */
  readonly federatesWith?: readonly FederatedDomainArgs[];
}

export interface FederatedDomain {
  readonly trustDomain: string;
  readonly bundleEndpointUrl: string;
  readonly profile: BundleEndpointProfile;
  readonly endpointSpiffeId?: string;
  readonly bundle?: PassThrough<string | undefined>;
}

export interface FederationSettings {
  readonly bundleEndpoint: {
    readonly port: number;
    readonly profile: BundleEndpointProfile;
    readonly servingCertSecret?: string;
    readonly refreshHint?: string;
    readonly serviceType: BundleServiceType;
    readonly internetFacing: boolean;
    readonly sourceRanges: readonly string[];
    readonly serviceAnnotations: Readonly<Record<string, string>>;
    readonly advertisedHost?: string;
  };
  readonly federatesWith: readonly FederatedDomain[];
}

export const DEFAULT_BUNDLE_ENDPOINT_PORT = 8443;

/** An IPv4 or IPv6 CIDR: an address and a prefix length within its family's width. */
function isCidr(v: unknown): boolean {
  const match = typeof v === "string" ? /^([^/]+)\/(\d{1,3})$/.exec(v) : null;
  if (!match) return false;
  const family = isIP(match[1]);
  return family !== 0 && Number(match[2]) <= (family === 4 ? 32 : 128);
}

/**
 * Why no value rendered into server.conf may hold a `$`: with postgres the server runs with -expandEnv, which
 * substitutes `$VAR` and `${VAR}` everywhere in the file, so a peer's URL could carry our datastore password
 * (in the server's environment) to the peer on every refresh, and into the log.
 */
export const NO_EXPANSION_RULE =
  "must not contain \"$\": SPIRE's -expandEnv would substitute environment variables (the server's " +
  "datastore connection string among them) into it";
const profiles: readonly string[] = ["https_spiffe", "https_web"];
const serviceTypes: readonly string[] = ["ClusterIP", "NodePort", "LoadBalancer"];

/** Checks `federation` for an installation of `ownTrustDomain`; `taken` are the server's other ports. */
export function federationSettings(
  c: Checker,
  input: FederationArgs | undefined,
  ownTrustDomain: string | undefined,
  taken: Readonly<Record<string, number>>,
): FederationSettings | undefined {
  if (input === undefined) return undefined;
  const e = input.bundleEndpoint ?? {};
  const port = e.port ?? DEFAULT_BUNDLE_ENDPOINT_PORT;
  if (c.check(isPort(port), "federation.bundleEndpoint.port", port, "must be an integer port in 1-65535")) {
    for (const [name, other] of Object.entries(taken)) {
      c.check(port !== other, "federation.bundleEndpoint.port", port, `must differ from ${name} ${other}`);
    }
  }
  const profile = e.profile ?? "https_spiffe";
  c.check(
    profiles.includes(profile),
    "federation.bundleEndpoint.profile",
    profile,
    `must be one of ${profiles.join(", ")}`,
  );
  if (profile === "https_web") {
    c.check(
      isDnsSubdomain(e.servingCertSecret),
      "federation.bundleEndpoint.servingCertSecret",
      e.servingCertSecret,
      "is required by profile https_web: a kubernetes.io/tls Secret with the endpoint's Web PKI certificate",
    );
  } else if (e.servingCertSecret !== undefined) {
    c.fail(
      "federation.bundleEndpoint.servingCertSecret",
      e.servingCertSecret,
      "only applies to profile https_web (https_spiffe serves the server's own SVID)",
    );
  }
  if (e.refreshHint !== undefined) {
    const seconds = c.attempt("federation.bundleEndpoint.refreshHint", e.refreshHint, () =>
      parseDuration(e.refreshHint as string),
    );
    if (seconds !== undefined) {
      c.check(
        seconds >= 60,
        "federation.bundleEndpoint.refreshHint",
        e.refreshHint,
        "must be at least 1m (SPIRE does not refresh more often)",
      );
    }
  }
  const serviceType = e.serviceType ?? "LoadBalancer";
  c.check(
    serviceTypes.includes(serviceType),
    "federation.bundleEndpoint.serviceType",
    serviceType,
    `must be one of ${serviceTypes.join(", ")}`,
  );
  const internetFacing = e.internetFacing ?? false;
  const sourceRanges = e.sourceRanges ?? [];
  if (
    c.check(
      typeof internetFacing === "boolean",
      "federation.bundleEndpoint.internetFacing",
      internetFacing,
      "must be a boolean",
    )
  ) {
    if (serviceType !== "LoadBalancer") {
      if (internetFacing)
        c.fail(
          "federation.bundleEndpoint.internetFacing",
          internetFacing,
          "only applies to serviceType LoadBalancer",
        );
      if (e.sourceRanges !== undefined)
        c.fail(
          "federation.bundleEndpoint.sourceRanges",
          e.sourceRanges,
          "only applies to serviceType LoadBalancer",
        );
    } else if (internetFacing && sourceRanges.length === 0) {
      c.fail(
        "federation.bundleEndpoint.sourceRanges",
        e.sourceRanges,
        "is required with internetFacing: name the peers' address ranges (CIDRs) the load balancer admits",
      );
    }
  }
  for (const [i, range] of sourceRanges.entries()) {
    c.check(
      isCidr(range),
      `federation.bundleEndpoint.sourceRanges[${i}]`,
      range,
      "must be a CIDR such as 203.0.113.0/24",
    );
  }
  if (e.advertisedHost !== undefined) {
    c.check(
      /^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/.test(e.advertisedHost),
      "federation.bundleEndpoint.advertisedHost",
      e.advertisedHost,
      "must be a host name or IPv4 address",
    );
  }

  const peers: FederatedDomain[] = [];
  const seen = new Set<string>();
  for (const [i, p] of (input.federatesWith ?? []).entries()) {
    const field = `federation.federatesWith[${i}]`;
    const td = c.attempt(`${field}.trustDomain`, p?.trustDomain, () => parseTrustDomain(p.trustDomain));
    if (td === undefined) continue;
    c.check(
      td !== ownTrustDomain,
      `${field}.trustDomain`,
      td,
      "is this installation's own trust domain: a server cannot federate with itself",
    );
    c.check(!seen.has(td), `${field}.trustDomain`, td, "repeats a federated trust domain");
    seen.add(td);
    if (
      c.check(
        typeof p.bundleEndpointUrl === "string" && /^https:\/\/[^/?#\s]+(\/\S*)?$/i.test(p.bundleEndpointUrl),
        `${field}.bundleEndpointUrl`,
        p.bundleEndpointUrl,
        "must be an https:// URL (SPIRE fetches bundles over HTTPS only)",
      )
    ) {
      c.check(
        !p.bundleEndpointUrl.includes("$"),
        `${field}.bundleEndpointUrl`,
        p.bundleEndpointUrl,
        NO_EXPANSION_RULE,
      );
    }
    const peerProfile = p.profile ?? "https_spiffe";
    c.check(
      profiles.includes(peerProfile),
      `${field}.profile`,
      peerProfile,
      `must be one of ${profiles.join(", ")}`,
    );
    if (peerProfile === "https_spiffe") {
      if (
        c.check(
          typeof p.endpointSpiffeId === "string",
          `${field}.endpointSpiffeId`,
          p.endpointSpiffeId,
          `is required by profile https_spiffe: the peer server's SPIFFE ID, normally spiffe://${td}/spire/server`,
        )
      ) {
        const id = c.attempt(`${field}.endpointSpiffeId`, p.endpointSpiffeId, () =>
          parseSpiffeId(p.endpointSpiffeId as string),
        );
        if (id) {
          c.check(
            id.trustDomain === td,
            `${field}.endpointSpiffeId`,
            p.endpointSpiffeId,
            `must be a member of the peer's trust domain ${td}`,
          );
        }
      }
    } else {
      c.check(
        p.endpointSpiffeId === undefined,
        `${field}.endpointSpiffeId`,
        p.endpointSpiffeId,
        "only applies to profile https_spiffe",
      );
    }
    if (typeof p.bundle === "string") {
      c.attempt(`${field}.bundle`, "(bundle)", () => checkPublicBundle(p.bundle as string));
    }
    peers.push({
      trustDomain: td,
      bundleEndpointUrl: p.bundleEndpointUrl,
      profile: peerProfile,
      endpointSpiffeId: p.endpointSpiffeId,
      bundle: p.bundle,
    });
  }
  return {
    bundleEndpoint: {
      port,
      profile,
      servingCertSecret: e.servingCertSecret,
      refreshHint: e.refreshHint,
      serviceType,
      internetFacing,
      sourceRanges: [...sourceRanges],
      serviceAnnotations: { ...(e.serviceAnnotations ?? {}) },
      advertisedHost: e.advertisedHost,
    },
    federatesWith: peers,
  };
}

/** Where the https_web serving certificate is mounted in the server pod. */
export const BUNDLE_CERT_DIR = "/run/spire/bundle-endpoint";

/** The `federation` block inside `server { }`; the address is the platform's, the rest the settings'. */
export function federationBlock(
  f: FederationSettings,
  address: string,
  port = f.bundleEndpoint.port,
): HclBlock {
  const e = f.bundleEndpoint;
  const ownProfile =
    e.profile === "https_web"
      ? block(
          "profile",
          ["https_web"],
          [
            block(
              "serving_cert_file",
              [],
              [
                ["cert_file_path", `${BUNDLE_CERT_DIR}/tls.crt`],
                ["key_file_path", `${BUNDLE_CERT_DIR}/tls.key`],
                // Required in 1.13.3: an empty value fails to parse, there is no working default.
                ["file_sync_interval", "1h"],
              ],
            ),
          ],
        )
      : block("profile", ["https_spiffe"], []);
  return block(
    "federation",
    [],
    [
      block(
        "bundle_endpoint",
        [],
        [
          ["address", address],
          ["port", port],
          ...(e.refreshHint ? [["refresh_hint", e.refreshHint] as const] : []),
          // Always explicit: 1.13.3 warns that a missing profile will become fatal.
          ownProfile,
        ],
      ),
      ...f.federatesWith.map((p) =>
        block(
          "federates_with",
          [p.trustDomain],
          [
            ["bundle_endpoint_url", p.bundleEndpointUrl],
            block(
              "bundle_endpoint_profile",
              [p.profile],
              p.profile === "https_spiffe" ? [["endpoint_spiffe_id", p.endpointSpiffeId as string]] : [],
            ),
          ],
        ),
      ),
    ],
  );
}

/** The SPIFFE ID the server's https_spiffe endpoint presents (its own SVID). */
export const serverSpiffeId = (trustDomain: string) => `spiffe://${trustDomain}/spire/server`;

/**
 * Checks that `id`, a caller's or backend's SPIFFE ID, belongs to the own trust domain or to one of `federated`;
 * returns its trust domain. The message names the rule a user broke.
 */
export function federatedMemberDomain(id: string, own: string, federated: readonly string[]): string {
  const parsed = parseSpiffeId(id);
  if (parsed.trustDomain === own || federated.includes(parsed.trustDomain)) return parsed.trustDomain;
  throw new Error(
    `is not a member of trust domain "${own}" nor of a federated one: its trust domain "${parsed.trustDomain}" ` +
      `is not federated (federated: ${federated.length > 0 ? federated.join(", ") : "none"})`,
  );
}

/**
 * A SPIFFE ID read from a federated peer's stack outputs (its service's or caller's identity), checked to lie in
 * that peer's trust domain before it becomes a caller or backend: a peer stack must not be able to name one of
 * our own identities, or a third domain's, as one we trust. `output` names the stack output, for the error.
 */
export function peerIdentity(peerTrustDomain: string, id: unknown, output: string): string {
  let domain: string | undefined;
  try {
    domain = parseSpiffeId(String(id)).trustDomain;
  } catch {
    domain = undefined;
  }
  if (typeof id !== "string" || domain !== peerTrustDomain) {
    throw new ValidationError(`peer stack of ${peerTrustDomain}`, [
      {
        field: output,
        value: id,
        rule: `must be a SPIFFE ID in the peer's own trust domain ${peerTrustDomain}`,
      },
    ]);
  }
  return id;
}
