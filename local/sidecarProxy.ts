/**
 * The byte-moving half of the local sidecar: TLS options from a plan, and proxying one request, stream or
 * connection to an upstream for each wire protocol (HTTP/1.1, HTTP/2 with gRPC trailers, plain TCP).
 */

import { X509Certificate } from "node:crypto";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { TlsPlan } from "./bootstrapPlan";

export interface Identity {
  chainPem?: string;
  keyPem?: () => string;
  /** Every trusted root, for OpenSSL's chain check. */
  caPem?: string;
  /**
   * From a SPIFFE certificate validator config (SPIRE's ALL): each trust domain's own roots. A peer must then
   * chain to the roots of the trust domain in its SPIFFE ID, as Envoy's SPIFFE validator checks.
   */
  trustDomains?: ReadonlyMap<string, string>;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Why Envoy's SPIFFE validator would refuse this peer, or undefined: its SPIFFE ID's trust domain has no bundle,
 * or its chain (as the peer presented it, up to the root OpenSSL verified) ends at a root of another domain.
 */
export function spiffeTrustError(
  cert: tls.DetailedPeerCertificate | undefined,
  trustDomains: ReadonlyMap<string, string>,
): string | undefined {
  const id = uriSans(cert).find((san) => san.startsWith("spiffe://"));
  if (!cert || !id) return "peer certificate has no SPIFFE ID";
  const td = id.slice("spiffe://".length).split("/")[0];
  const bundle = trustDomains.get(td);
  if (!bundle)
    return `no bundle for trust domain ${td} of peer ${id} (trusted: ${[...trustDomains.keys()].join(", ")})`;
  const roots = new Set((bundle.match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem).fingerprint256));
  const seen = new Set<string>();
  for (
    let c: tls.DetailedPeerCertificate | undefined = cert;
    c && !seen.has(c.fingerprint256);
    c = c.issuerCertificate
  ) {
    if (roots.has(c.fingerprint256)) return undefined;
    seen.add(c.fingerprint256);
  }
  return `peer ${id} does not chain to a root of its trust domain ${td}`;
}

export const split = (hostPort: string) => {
  const i = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
};

export const uriSans = (cert: { subjectaltname?: string } | undefined) =>
  (cert?.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));

const nodeVersion = (v: string) => v.replace("TLSv1_", "TLSv1.") as tls.SecureVersion;

/** The TLS options a plan's context asks for: own SVID, bundle, protocol versions and ALPN. */
export function tlsOptions(
  plan: TlsPlan,
  id: Identity,
): Pick<tls.TlsOptions, "cert" | "key" | "ca" | "minVersion" | "maxVersion" | "ALPNProtocols"> {
  return {
    cert: id.chainPem,
    key: id.keyPem?.(),
    ca: id.caPem,
    minVersion: nodeVersion(plan.minVersion),
    maxVersion: nodeVersion(plan.maxVersion),
    ...(plan.alpn.length > 0 ? { ALPNProtocols: [...plan.alpn] } : {}),
  };
}

/**
 * Client-side mTLS options for an upstream: the server must present one of `allowedSans` as a URI SAN (SPIFFE
 * identity, not host name); `onSanFailure` counts a mismatch.
 */
export function upstreamTls(plan: TlsPlan, id: Identity, onSanFailure: () => void): tls.ConnectionOptions {
  return {
    ...tlsOptions(plan, id),
    checkServerIdentity: (_host, cert) => {
      const untrusted =
        id.trustDomains && spiffeTrustError(cert as tls.DetailedPeerCertificate, id.trustDomains);
      if (untrusted) return new Error(untrusted);
      const sans = uriSans(cert);
      if (plan.allowedSans.some((s) => sans.includes(s))) return undefined;
      onSanFailure();
      return new Error(`server SANs ${sans.join(",")} not in ${plan.allowedSans.join(",")}`);
    },
  };
}

/** What a proxied HTTP/1.1 exchange reports: the upstream's status, a failure, and any bytes moving. */
export interface Http1Hooks {
  readonly onStatus?: (status: number) => void;
  readonly onError?: () => void;
  readonly onActivity?: () => void;
}

/** HTTP/1.1: one request to `target` (plain or TLS), response piped back. Returns the upstream request. */
export function proxyHttp1(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  open: (options: http.RequestOptions) => http.ClientRequest,
  hooks: Http1Hooks = {},
): http.ClientRequest {
  const { onStatus = () => {}, onError = () => {}, onActivity = () => {} } = hooks;
  const upstream = open({ method: req.method, path: req.url, headers: req.headers });
  req.on("data", onActivity);
  upstream.on("response", (r) => {
    onActivity();
    onStatus(r.statusCode ?? 502);
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.on("data", onActivity);
    r.pipe(res);
  });
  upstream.on("error", () => {
    onError();
    if (!res.headersSent) res.writeHead(503).end("upstream connect error or disconnect/reset before headers");
    else res.destroy();
  });
  req.pipe(upstream);
  return upstream;
}

const hopHeaders = new Set([":method", ":path", ":scheme", ":authority", ":status"]);

/**
 * HTTP/2: one stream to a session of the upstream, headers, body and trailers (gRPC's status) both ways. A
 * failure before the upstream answered becomes a 503, as Envoy's.
 */
export function proxyHttp2(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  session: http2.ClientHttp2Session,
  onStatus: (status: number) => void = () => {},
  onError: () => void = () => {},
): void {
  const forward: http2.OutgoingHttpHeaders = {
    ":method": headers[":method"],
    ":path": headers[":path"],
    ":scheme": headers[":scheme"],
    ":authority": headers[":authority"],
  };
  for (const [k, v] of Object.entries(headers)) if (!hopHeaders.has(k)) forward[k] = v;
  const upstream = session.request(forward, { endStream: false });
  upstream.on("response", (h) => {
    onStatus(Number(h[":status"]));
    const back: http2.OutgoingHttpHeaders = { ":status": h[":status"] };
    for (const [k, v] of Object.entries(h)) if (!hopHeaders.has(k)) back[k] = v;
    if (!stream.destroyed) stream.respond(back, { waitForTrailers: true });
  });
  let trailers: http2.OutgoingHttpHeaders | undefined;
  upstream.on("trailers", (t) => {
    trailers = { ...t };
  });
  stream.on("wantTrailers", () => stream.sendTrailers(trailers ?? {}));
  upstream.on("data", (d) => stream.write(d));
  upstream.on("end", () => stream.end());
  upstream.on("error", () => {
    onError();
    if (!stream.headersSent && !stream.destroyed) {
      stream.respond({ ":status": 503 });
      stream.end("upstream connect error or disconnect/reset before headers");
    } else stream.destroy();
    session.close();
  });
  upstream.on("close", () => session.close());
  stream.on("data", (d) => upstream.write(d));
  stream.on("end", () => upstream.end());
  stream.on("error", () => upstream.destroy());
}

/** TCP: bytes both ways until either side closes. */
export function pipeBoth(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", close);
  b.on("error", close);
  a.on("close", close);
  b.on("close", close);
}

/** Destroys a TLS connection that has not finished its TCP connect and handshake within `ms` (connect_timeout). */
export function limitConnect(socket: tls.TLSSocket, ms: number, onTimeout: () => void): tls.TLSSocket {
  const timer = setTimeout(() => {
    onTimeout();
    socket.destroy(new Error(`upstream connect timeout (${ms} ms)`));
  }, ms);
  socket.once("secureConnect", () => clearTimeout(timer));
  socket.once("close", () => clearTimeout(timer));
  return socket;
}
