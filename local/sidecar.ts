/**
 * A small TLS sidecar that runs a rendered Envoy bootstrap's mesh policy on loopback, with Node's OpenSSL, where
 * no Envoy binary can run. It streams its SVID and trust bundle over SDS from the SPIRE agent under the
 * bootstrap's secret names and, like Envoy with initial_fetch_timeout 0s, opens no listener until all of them
 * arrived. Then: the ingress mode (STRICT, PERMISSIVE or plaintext, chosen by sniffing for a TLS ClientHello as
 * tls_inspector does) with the exact SAN list, TLS 1.2-1.3 and ALPN as rendered; HTTP/1.1, HTTP/2 (gRPC
 * trailers included) or TCP to the app; egress by the router's headers to per-backend mTLS clusters with their
 * own SAN check; the active health checks; the kubelet's exact readiness route, to the admin over its socket; and
 * Envoy-shaped /stats, /certs, /clusters and /ready on the admin Unix socket, with the rendered mode. Which
 * bootstrap fields it models is bootstrapFields.ts.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import * as tls from "node:tls";
import type {
  ChainPlan,
  ClusterPlan,
  HttpPlan,
  RoutePlan,
  SidecarPlan,
  TlsPlan,
  VirtualHostPlan,
} from "./bootstrapPlan";
import { type SdsStream, streamSecrets } from "./sdsClient";
import { certsJson, clustersText } from "./sidecarAdmin";
import { mutateRequestHeaders, normalizeTarget } from "./sidecarHcm";
import { balance, type HostHealth, newHostHealth, recordCheck, runHealthCheck } from "./sidecarHealth";
import { HTTP_DEFAULTS } from "./sidecarPlanReaders";
import {
  type Identity,
  limitConnect,
  pipeBoth,
  proxyHttp1,
  proxyHttp2,
  spiffeTrustError,
  split,
  tlsOptions,
  upstreamTls,
  uriSans,
} from "./sidecarProxy";
import { authorize, type RbacPlan } from "./sidecarRbac";
import { headerValue, pathOnly, pickRoute, type RouteRequest, rewritten } from "./sidecarRoutes";

export interface Placement {
  /** The agent socket to use instead of the rendered pipe path. */
  readonly agentSocket: string;
  readonly ingressPort: number;
  /** `127.0.0.1:<port>` of this workload's app; none behind a gateway. */
  readonly app?: string;
  readonly readinessPort: number;
  /** The admin socket to bind instead of the rendered pipe path; its directory must be the sidecar's to write. */
  readonly adminSocket: string;
  /** Rendered egress listener name -> local `ip:port`. */
  readonly egress: Readonly<Record<string, string>>;
  /** Rendered cluster endpoint (`service:port`) -> the local `ip:port` of that service's sidecar. */
  readonly endpoints: Readonly<Record<string, string>>;
}

/** The body of Envoy's 403 when its RBAC filter denies a request. */
export const RBAC_DENIED = "RBAC: access denied";

/** Every connection a sidecar accepted, so stopping it closes them all (server.close() leaves them open). */
const accepted = new WeakMap<net.Server, Set<net.Socket>>();

/** On a loopback `port` of `host`, or on a Unix socket path (no host). */
const listen = (server: net.Server, port: number | string, host?: string) => {
  const sockets = new Set<net.Socket>();
  accepted.set(server, sockets);
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise<net.Server>((resolve) => {
    if (host === undefined) server.listen(port, () => resolve(server));
    else server.listen(port as number, host, () => resolve(server));
  });
};
/** Envoy's admin streams its answers: chunked, without a Content-Length. */
const streamed = (res: http.ServerResponse, body: string) => {
  res.write(body);
  res.end();
};
const internalPort = (server: net.Server) => (server.address() as net.AddressInfo).port;
/** Node reports an IPv4 peer of a dual-stack socket as ::ffff:a.b.c.d; Envoy as a.b.c.d. */
const peerAddress = (socket: net.Socket) => (socket.remoteAddress ?? "").replace(/^::ffff:/, "");

/** What a connection manager hears of the exchange it proxies: bytes moving, and the response's start. */
interface StreamEvents {
  readonly onActivity: () => void;
  readonly onResponse: () => void;
}
/** Handles one HTTP/1.1 request; returns the upstream request, which an idle stream's timeout aborts. */
type Http1Handler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  stream: StreamEvents,
) => http.ClientRequest | undefined;

export class Sidecar {
  private readonly stats = new Map<string, number>();
  private readonly identities = new Map<string, Identity>();
  private readonly streams: SdsStream[] = [];
  private openStreams = 0;
  private readonly servers: net.Server[] = [];
  private readonly secureServers: { server: tls.Server; plan: TlsPlan }[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly health = new Map<string, HostHealth>();
  private stopped = false;
  /** Stand-in only (Envoy has no such page): peers' SPIFFE IDs seen, and the last TLS error per upstream. */
  private readonly peers = new Set<string>();
  private readonly tlsErrors = new Map<string, string>();
  private live = false;
  /** The listener stat root Envoy uses: the rendered address. */
  private readonly ingressStat: string;
  /** Open downstream connections on listeners under the overload manager's cap. */
  private activeConnections = 0;

  constructor(
    private readonly plan: SidecarPlan,
    private readonly place: Placement,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.ingressStat = plan.ingress.statRoot;
  }

  private count(name: string, by = 1): void {
    this.stats.set(name, (this.stats.get(name) ?? 0) + by);
  }

  /** The identity a TLS plan needs: its own SVID and the trust bundle, as last pushed over SDS. */
  private identity(t: TlsPlan): Identity {
    const cert = this.identities.get(t.certificate);
    const trust = this.identities.get(t.trust);
    return {
      chainPem: cert?.chainPem,
      keyPem: cert?.keyPem,
      caPem: trust?.caPem,
      trustDomains: trust?.trustDomains,
    };
  }

  private ready(t: TlsPlan): boolean {
    const id = this.identity(t);
    return Boolean(id.chainPem && id.keyPem && id.caPem);
  }

  private allSecretsDelivered(): boolean {
    return this.plan.secrets.every((name) => {
      const s = this.identities.get(name);
      return Boolean(s?.caPem || (s?.chainPem && s.keyPem));
    });
  }

  /** One stream per secret, as Envoy subscribes; a failed stream (no entry yet, agent restart) is retried. */
  private subscribe(name: string): void {
    const node = { id: this.plan.nodeId, cluster: this.plan.nodeCluster, metadata: this.plan.nodeMetadata };
    const loop = async () => {
      while (!this.stopped) {
        const stream = streamSecrets(this.place.agentSocket, [name], { node });
        this.streams.push(stream);
        this.openStreams++;
        try {
          for (;;) {
            const version = await stream.next(3_600_000);
            for (const secret of version.secrets) {
              const current = this.identities.get(secret.name) ?? {};
              if (secret.tlsCertificate) {
                current.chainPem = secret.tlsCertificate.certificateChainPem;
                current.keyPem = secret.tlsCertificate.privateKeyPem;
                this.count(`sds.${secret.name}.update_success`);
              }
              if (secret.validationContext?.trustedCaPem)
                current.caPem = secret.validationContext.trustedCaPem;
              const spiffe = secret.validationContext?.spiffe;
              if (spiffe && spiffe.length > 0) {
                // SPIRE's SPIFFE validator config: OpenSSL checks the chain against every root, then each peer is
                // held to its own trust domain's roots (spiffeTrustError), as Envoy's validator does.
                current.caPem = spiffe.map((td) => td.bundlePem).join("\n");
                current.trustDomains = new Map(spiffe.map((td) => [td.trustDomain, td.bundlePem]));
                this.count(`sds.${secret.name}.trust_domains.${spiffe.length}`);
              }
              this.identities.set(secret.name, current);
            }
            this.refreshSecureServers();
          }
        } catch (e) {
          if (this.stopped) return;
          this.count(`sds.${name}.update_rejected`);
          this.log(`sds ${name}: ${(e as Error).message}`);
        } finally {
          this.openStreams--;
          stream.close();
        }
        await delay(500);
      }
    };
    void loop();
  }

  /** New connections to the ingress TLS servers use the latest SVID and bundle (rotation). */
  private refreshSecureServers(): void {
    for (const { server, plan } of this.secureServers) {
      if (this.ready(plan)) server.setSecureContext(tlsOptions(plan, this.identity(plan)));
    }
  }

  /**
   * A chain's RBAC filter on one request (HTTP) or connection (TCP: no request), the peer being the TLS
   * socket's certificate (none on plaintext). True: let it through.
   */
  private authorized(rbac: RbacPlan | undefined, socket: net.Socket, request?: RouteRequest): boolean {
    if (!rbac) return true;
    const peerSans = socket instanceof tls.TLSSocket ? uriSans(socket.getPeerCertificate()) : [];
    return authorize(
      rbac,
      { peerSans, ...(request ? { path: request.path, header: (name) => headerValue(request, name) } : {}) },
      (stat) => this.count(stat),
    );
  }

  /** An HTTP/2 stream to the app, past the chain's RBAC filter (403 as Envoy answers a denial). */
  private http2ToApp(chain: ChainPlan, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
    const request: RouteRequest = {
      host: String(headers[":authority"] ?? ""),
      method: String(headers[":method"] ?? "GET"),
      path: String(headers[":path"] ?? "/"),
      header: (h) => headers[h],
    };
    if (!this.authorized(chain.rbac, stream.session?.socket as net.Socket, request)) {
      stream.respond({ ":status": 403, "content-type": "text/plain" });
      return void stream.end(RBAC_DENIED);
    }
    proxyHttp2(stream, headers, this.appHttp2Session());
  }

  private appHttp2Session(): http2.ClientHttp2Session {
    return http2.connect(`http://${this.place.app}`);
  }

  /**
   * A chain's request handler, as a server fed with already-accepted connections: a gateway's chain routes into
   * the mesh (HTTP/1.1, as its targets must be http); a sidecar's goes to the app in the chain's protocol.
   */
  private appServer(chain: ChainPlan): net.Server {
    if (chain.gateway) return this.httpRouter(chain.gateway, chain.http ?? HTTP_DEFAULTS);
    const app = split(this.place.app ?? "");
    if (chain.protocol === "tcp") {
      // tcp_proxy carries a half-close through: one side may finish sending and still receive.
      const toApp = (socket: net.Socket) =>
        pipeBoth(socket, net.connect({ port: app.port, host: app.host, allowHalfOpen: true }));
      return net.createServer({ allowHalfOpen: true }, (socket) => {
        if (!chain.rbac) return toApp(socket);
        // Envoy's network RBAC decides on the connection's first bytes (enforcement_type ONE_TIME_ON_FIRST_BYTE):
        // denied, the connection is closed and nothing reaches the app.
        socket.on("error", () => socket.destroy());
        socket.once("data", (first: Buffer) => {
          if (!this.authorized(chain.rbac, socket)) return void socket.destroy();
          socket.pause();
          socket.unshift(first);
          toApp(socket);
        });
      });
    }
    if (chain.protocol === "http2") {
      return http2.createServer().on("stream", (stream, headers) => this.http2ToApp(chain, stream, headers));
    }
    return this.http1(chain.http ?? HTTP_DEFAULTS, (req, res, stream) => {
      const request: RouteRequest = {
        host: String(req.headers.host ?? ""),
        method: req.method ?? "GET",
        path: req.url ?? "/",
        header: (h) => req.headers[h],
      };
      if (!this.authorized(chain.rbac, req.socket, request)) {
        res.writeHead(403, { "content-type": "text/plain" }).end(RBAC_DENIED);
        return undefined;
      }
      return proxyHttp1(
        req,
        res,
        (options) => http.request({ ...options, host: app.host, port: app.port, agent: false }),
        { onActivity: stream.onActivity, onStatus: stream.onResponse },
      );
    });
  }

  /**
   * An HTTP/1.1 server as Envoy's connection manager runs one: the header timeout (408), the path normalized or
   * refused (400) and the headers rewritten before routing, the stream idle timeout (408 before the response, a
   * reset after), and the router's x-envoy-upstream-service-time unless suppressed.
   */
  private http1(h: HttpPlan, handle: Http1Handler): http.Server {
    const stat = (name: string) => this.count(`http.${h.statPrefix}.${name}`);
    const headersMs = h.requestHeadersTimeoutMs ?? 0;
    const server = http.createServer(
      {
        requestTimeout: 0,
        headersTimeout: headersMs,
        // Node checks the header deadline at this period: a tenth of it, so the 408 comes close to the deadline.
        connectionsCheckingInterval: headersMs > 0 ? Math.min(1000, Math.max(10, headersMs / 10)) : 30_000,
      },
      (req, res) => {
        const target = normalizeTarget(req.url ?? "/", h);
        if (target === "reject") {
          stat("downstream_rq_failed_path_normalization");
          return void res.writeHead(400).end("Bad Request");
        }
        req.url = target;
        const socket = req.socket as tls.TLSSocket;
        mutateRequestHeaders(req.headers, h, peerAddress(socket), socket.encrypted === true);
        const started = Date.now();
        const onResponse = () => {
          if (!h.suppressEnvoyHeaders)
            res.setHeader("x-envoy-upstream-service-time", String(Date.now() - started));
        };
        let timer: NodeJS.Timeout | undefined;
        let upstream: http.ClientRequest | undefined;
        const idle = () => {
          stat("downstream_rq_idle_timeout");
          upstream?.destroy();
          if (res.headersSent) return void res.destroy();
          res.writeHead(408, { connection: "close" }).end("stream timeout");
        };
        let done = false;
        const onActivity = () => {
          clearTimeout(timer);
          // Unref'd: a stream's timer is no reason for the process to stay.
          if (h.streamIdleTimeoutMs > 0 && !done) timer = setTimeout(idle, h.streamIdleTimeoutMs).unref();
        };
        res.on("close", () => {
          done = true;
          clearTimeout(timer);
          // The client went away mid-stream: Envoy resets the upstream stream too.
          if (!res.writableFinished) upstream?.destroy();
        });
        onActivity();
        upstream = handle(req, res, { onActivity, onResponse });
      },
    );
    server.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
      const timedOut = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
      if (timedOut) stat("downstream_rq_header_timeout");
      if (socket.writable) {
        socket.write(
          timedOut
            ? "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 22\r\n\r\nrequest header timeout"
            : "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
        );
      }
      socket.destroy();
    });
    return server;
  }

  /**
   * The overload manager's cap, as Envoy applies it on accept: beyond it a connection to a listener under the
   * cap is closed at once and counted as `downstream_global_cx_overflow`.
   */
  private capConnections(server: net.Server, statRoot: string, ignore: boolean): net.Server {
    const max = this.plan.maxConnections;
    if (max === undefined || ignore) return server;
    server.prependListener("connection", (socket: net.Socket) => {
      if (this.activeConnections >= max) {
        this.count(`${statRoot}.downstream_global_cx_overflow`);
        socket.destroy();
        return;
      }
      this.activeConnections++;
      socket.once("close", () => this.activeConnections--);
    });
    return server;
  }

  /**
   * A TLS filter chain, as Envoy's DownstreamTlsContext with a validation context: it always asks for a client
   * certificate; require_client_certificate only makes one mandatory. A presented certificate is always
   * verified (the bundle, then each peer's own trust domain, then the exact SAN list); an absent one passes
   * only when not required. Then the stream goes to the chain's handler.
   */
  private tlsChain(chain: ChainPlan, plan: TlsPlan): tls.Server {
    const required = chain.requireClientCertificate;
    const options = {
      ...tlsOptions(plan, this.identity(plan)),
      requestCert: true,
      // Required: OpenSSL aborts the handshake on a missing or unverifiable certificate, as Envoy does.
      rejectUnauthorized: required,
    };
    const handler = this.appServer(chain);
    const server =
      chain.protocol === "http2"
        ? (http2
            .createSecureServer(options)
            .on("stream", (stream, headers) =>
              this.http2ToApp(chain, stream, headers),
            ) as unknown as tls.Server)
        : tls.createServer({ ...options, allowHalfOpen: chain.protocol === "tcp" });
    server.on("tlsClientError", () => this.count(`${this.ingressStat}.ssl.connection_error`));
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      const refuse = (stat: string, why: string) => {
        this.count(`${this.ingressStat}.ssl.${stat}`);
        this.log(`ingress: ${why}`);
        socket.destroy();
      };
      const cert = socket.getPeerCertificate(true);
      if (!cert || Object.keys(cert).length === 0) {
        // Only reachable when not required: OpenSSL refused the handshake otherwise.
        this.count(`${this.ingressStat}.ssl.no_certificate`);
      } else {
        if (!socket.authorized)
          return refuse("fail_verify_error", `client certificate: ${socket.authorizationError}`);
        const trustDomains = this.identity(plan).trustDomains;
        const untrusted = trustDomains && spiffeTrustError(cert, trustDomains);
        if (untrusted) return refuse("fail_verify_error", untrusted);
        const peer = uriSans(cert);
        for (const id of peer) this.peers.add(`ingress ${id}`);
        if (plan.allowedSans.length > 0 && !peer.some((san) => plan.allowedSans.includes(san))) {
          return refuse(
            "fail_verify_san",
            `client SANs ${peer.join(",")} not in ${plan.allowedSans.join(",")}`,
          );
        }
      }
      this.count(`${this.ingressStat}.ssl.handshake`);
      if (chain.protocol !== "http2") handler.emit("connection", socket);
    });
    this.secureServers.push({ server, plan });
    return server;
  }

  /**
   * Ingress on the mesh port, chain by chain as Envoy picks them: with tls_inspector, a connection whose first
   * bytes are a TLS handshake record takes the "tls" chain, any other the plaintext one; without it, every
   * connection takes the plaintext one (which may itself be a TLS chain: STRICT). No chain: closed.
   */
  private async startIngress(): Promise<void> {
    const { tlsInspector, onTls, onPlaintext } = this.plan.ingress;
    const internal = new Map<number, net.Server>();
    for (const chain of [onTls, onPlaintext]) {
      if (!chain || internal.has(chain.index)) continue;
      const server = chain.tls ? this.tlsChain(chain, chain.tls) : this.appServer(chain);
      internal.set(chain.index, await listen(server, 0, "127.0.0.1"));
    }
    for (const s of internal.values()) this.servers.push(s);
    const halfOpen = [onTls, onPlaintext].some((c) => c?.protocol === "tcp");
    const front = net.createServer({ allowHalfOpen: halfOpen }, (socket) => {
      if (socket.destroyed) return; // refused at the connection cap
      socket.on("error", () => socket.destroy());
      const take = (chain: ChainPlan | undefined, first?: Buffer) => {
        if (!chain) {
          this.count(`${this.ingressStat}.no_filter_chain_match`);
          socket.destroy();
          return;
        }
        if (!chain.tls) this.count(`${this.ingressStat}.plaintext`);
        const port = internalPort(internal.get(chain.index) as net.Server);
        const inner = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
        if (first) inner.write(first);
        pipeBoth(socket, inner);
      };
      if (!tlsInspector) return take(onPlaintext);
      // A TLS record starts with content type 22 (handshake); Envoy's inspector parses the ClientHello.
      socket.once("data", (first: Buffer) => take(first[0] === 0x16 ? onTls : onPlaintext, first));
    });
    this.capConnections(front, this.ingressStat, this.plan.ingress.ignoreGlobalConnLimit);
    this.servers.push(await listen(front, this.place.ingressPort, "127.0.0.1"));
  }

  /** Where a cluster's rendered endpoint lives on loopback, and the client mTLS options to reach it. */
  private upstream(cluster: ClusterPlan) {
    const endpoints = this.place.endpoints;
    const target = split(
      Object.hasOwn(endpoints, cluster.endpoint) ? endpoints[cluster.endpoint] : cluster.endpoint,
    );
    const options = upstreamTls(cluster.tls, this.identity(cluster.tls), () =>
      this.count(`cluster.${cluster.name}.ssl.fail_verify_san`),
    );
    return { ...target, options };
  }

  private http2Upstream(cluster: ClusterPlan): http2.ClientHttp2Session {
    const { host, port, options } = this.upstream(cluster);
    const session = http2.connect(`https://${host}:${port}`, {
      createConnection: () => {
        const socket = this.limitConnect(cluster, tls.connect({ ...options, host, port }));
        socket.once("secureConnect", () => this.count(`cluster.${cluster.name}.ssl.handshake`));
        return socket;
      },
    });
    session.on("error", () => this.count(`cluster.${cluster.name}.upstream_cx_connect_fail`));
    return session;
  }

  /** connect_timeout: the TCP connect and the TLS handshake must be done within it, as Envoy's. */
  private limitConnect(cluster: ClusterPlan, socket: tls.TLSSocket): tls.TLSSocket {
    return limitConnect(socket, cluster.connectTimeoutMs, () =>
      this.count(`cluster.${cluster.name}.upstream_cx_connect_timeout`),
    );
  }

  /** No identity yet, or Envoy's load balancer finds no host (sidecarHealth.balance): no healthy upstream. */
  private unavailable(cluster: ClusterPlan | undefined, name: string): boolean {
    const decision =
      cluster && this.ready(cluster.tls)
        ? balance(this.health.get(cluster.name), cluster.healthyPanicThresholdPercent)
        : "none";
    if (decision === "panic") this.count(`cluster.${name}.lb_healthy_panic`);
    if (decision !== "none") return false;
    this.count(`cluster.${name}.upstream_cx_none_healthy`);
    return true;
  }

  private clusterStats(name: string) {
    return {
      ok: (status: number) => this.count(`cluster.${name}.upstream_rq_${status}`),
      fail: () => this.count(`cluster.${name}.upstream_cx_connect_fail`),
    };
  }

  /** HTTP/1.1 routes to mTLS clusters: a sidecar's egress listener, or a gateway's listener. */
  private httpRouter(host: VirtualHostPlan, h: HttpPlan): http.Server {
    return this.http1(h, (req, res, stream) => {
      const authority = String(req.headers.host ?? "");
      const path = req.url ?? "/";
      const route: RoutePlan | undefined = pickRoute(host, {
        host: authority,
        method: req.method ?? "GET",
        path,
        header: (h) => req.headers[h],
      });
      if (!route) return void res.writeHead(404).end();
      const cluster = this.plan.clusters.find((c) => c.name === route.cluster);
      if (this.unavailable(cluster, route.cluster)) {
        res.writeHead(503).end("no healthy upstream");
        return undefined;
      }
      const { host: upstreamHost, port, options } = this.upstream(cluster as ClusterPlan);
      const to = rewritten(route, path, authority);
      const s = this.clusterStats(route.cluster);
      return proxyHttp1(
        req,
        res,
        (o) => {
          const headers = { ...o.headers, host: to.host };
          const r = https.request({
            ...o,
            path: to.path,
            headers,
            ...options,
            host: upstreamHost,
            port,
            agent: false,
          });
          r.on("socket", (sock) =>
            this.limitConnect(cluster as ClusterPlan, sock as tls.TLSSocket).once("secureConnect", () => {
              this.count(`cluster.${route.cluster}.ssl.handshake`);
              for (const id of uriSans((sock as tls.TLSSocket).getPeerCertificate()))
                this.peers.add(`cluster ${route.cluster} ${id}`);
            }),
          );
          r.on("error", (e) => this.tlsErrors.set(route.cluster, e.message));
          return r;
        },
        {
          onStatus: (status) => {
            stream.onResponse();
            s.ok(status);
          },
          onError: s.fail,
          onActivity: stream.onActivity,
        },
      );
    });
  }

  private async startEgress(): Promise<void> {
    for (const egress of this.plan.egress) {
      const stat = (name: string) => this.clusterStats(name);
      let server: net.Server;
      if (egress.protocol === "tcp") {
        const name = egress.routes[0].cluster;
        server = net.createServer({ allowHalfOpen: true }, (socket) => {
          const cluster = this.plan.clusters.find((c) => c.name === name);
          if (this.unavailable(cluster, name)) {
            socket.destroy();
            return;
          }
          const { host, port, options } = this.upstream(cluster as ClusterPlan);
          // Half-close passes through (tcp_proxy), so the TCP socket under the TLS one allows it.
          const up = this.limitConnect(
            cluster as ClusterPlan,
            tls.connect({ ...options, socket: net.connect({ host, port, allowHalfOpen: true }) }),
          );
          up.once("secureConnect", () => this.count(`cluster.${name}.ssl.handshake`));
          pipeBoth(socket, up);
        });
      } else if (egress.protocol === "http2") {
        server = http2.createServer().on("stream", (stream, headers) => {
          const authority = String(headers[":authority"] ?? "");
          const path = String(headers[":path"] ?? "/");
          const route = pickRoute(egress, {
            host: authority,
            method: String(headers[":method"] ?? "GET"),
            path,
            header: (h) => headers[h],
          });
          if (!route) {
            stream.respond({ ":status": 404 });
            stream.end();
            return;
          }
          const cluster = this.plan.clusters.find((c) => c.name === route.cluster);
          if (this.unavailable(cluster, route.cluster)) {
            stream.respond({ ":status": 503 });
            stream.end("no healthy upstream");
            return;
          }
          const s = stat(route.cluster);
          const to = rewritten(route, path, authority);
          const forward = { ...headers, ":path": to.path, ":authority": to.host };
          proxyHttp2(stream, forward, this.http2Upstream(cluster as ClusterPlan), s.ok, s.fail);
        });
      } else {
        server = this.httpRouter(egress, egress.http ?? HTTP_DEFAULTS);
      }
      this.capConnections(server, egress.statRoot, egress.ignoreGlobalConnLimit);
      const placed = this.place.egress;
      if (!Object.hasOwn(placed, egress.listener)) throw new Error(`no placement for ${egress.listener}`);
      const local = split(placed[egress.listener]);
      this.servers.push(await listen(server, local.port, local.host));
    }
  }

  /**
   * Active health checks over each cluster's mTLS socket, with the target's thresholds, by Envoy's transitions
   * (sidecarHealth.recordCheck). Resolves once every cluster has its first result: Envoy finishes initializing
   * (and opens listeners) only then.
   */
  private startHealthChecks(): Promise<void> {
    const first: Promise<void>[] = [];
    for (const cluster of this.plan.clusters) {
      const hc = cluster.healthCheck;
      if (!hc) continue;
      const state = newHostHealth();
      this.health.set(cluster.name, state);
      const check = async () => {
        const { host, port, options } = this.upstream(cluster);
        const result = this.ready(cluster.tls)
          ? await runHealthCheck(hc, cluster.name, host, port, options)
          : "network_failure";
        if (this.stopped) return;
        this.count(`cluster.${cluster.name}.health_check.attempt`);
        this.count(`cluster.${cluster.name}.health_check.${result === "success" ? "success" : "failure"}`);
        if (result === "network_failure") this.count(`cluster.${cluster.name}.health_check.network_failure`);
        recordCheck(state, result, hc);
      };
      // Envoy arms the next check an interval after this one's result (or timeout), never while one runs.
      const slot = this.timers.push(setTimeout(() => {}, 0)) - 1;
      const next = () => {
        if (!this.stopped) this.timers[slot] = setTimeout(() => void check().then(next), hc.intervalMs);
      };
      first.push(check().then(next));
    }
    return Promise.all(first).then(() => {});
  }

  /** Envoy's server state as its admin /ready reports it. */
  private readyAnswer(res: http.ServerResponse): void {
    if (this.live) streamed(res, "LIVE\n");
    else streamed(res.writeHead(503), "INITIALIZING\n");
  }

  /** Envoy's admin interface: the pages the sidecar keeps (and /peers, a stand-in page of its own). */
  private adminAnswer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = pathOnly(req.url ?? "/");
    if (path === "/stats") {
      const filter = new URL(req.url ?? "/", "http://x").searchParams.get("filter");
      const lines = [...this.stats.entries()]
        .filter(([k]) => !filter || k.includes(filter))
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}: ${v}`);
      streamed(res, `${lines.join("\n")}\n`);
    } else if (path === "/certs")
      streamed(res, JSON.stringify(certsJson(this.plan, this.identities), null, 2));
    else if (path === "/clusters") {
      streamed(res, clustersText(this.plan, this.place.agentSocket, this.openStreams, this.health));
    } else if (path === "/ready") this.readyAnswer(res);
    else if (path === "/peers")
      streamed(
        res,
        JSON.stringify({ peers: [...this.peers].sort(), tlsErrors: Object.fromEntries(this.tlsErrors) }),
      );
    else res.writeHead(404).end();
  }

  /** As Envoy binds a pipe: a stale file at the path is unlinked, and the rendered mode is set once bound. */
  private async startAdmin(): Promise<void> {
    const socket = this.place.adminSocket;
    fs.rmSync(socket, { force: true });
    const server = http.createServer((req, res) => this.adminAnswer(req, res));
    this.servers.push(await listen(server, socket));
    fs.chmodSync(socket, this.plan.admin.mode);
  }

  /**
   * The kubelet's listener: Envoy's routing over the rendered routes (a `path` match ignores the query string,
   * a `:path` header match does not), each to the admin cluster, whose endpoint is the admin socket; else 404.
   */
  private async startReadiness(): Promise<void> {
    const server = http.createServer((req, res) => {
      const route = pickRoute(this.plan.readiness, {
        host: String(req.headers.host ?? ""),
        method: req.method ?? "GET",
        path: req.url ?? "/",
        header: (h) => req.headers[h],
      });
      if (!route) return void res.writeHead(404).end();
      const s = this.clusterStats(route.cluster);
      proxyHttp1(req, res, (o) => http.request({ ...o, socketPath: this.place.adminSocket, agent: false }), {
        onStatus: s.ok,
        onError: s.fail,
      });
    });
    this.capConnections(server, this.plan.readiness.statRoot, this.plan.readiness.ignoreGlobalConnLimit);
    this.servers.push(await listen(server, this.place.readinessPort, "127.0.0.1"));
  }

  // Declared before whenLive, whose initializer sets it: fields initialize in declaration order.
  private goLive: () => void = () => {};
  /** Resolves once the listeners are up (start() resolves once the admin interface is). */
  readonly whenLive: Promise<void> = new Promise((resolve) => {
    this.goLive = resolve;
  });

  async start(): Promise<void> {
    for (const name of this.plan.secrets) this.subscribe(name);
    await this.startAdmin();
    void (async () => {
      // Envoy's init: with initial_fetch_timeout 0s no listener opens before every secret has arrived.
      while (this.plan.waitForSecrets && !this.allSecretsDelivered()) {
        if (this.stopped) return;
        await delay(50);
      }
      this.refreshSecureServers();
      await this.startHealthChecks();
      if (this.stopped) return;
      await this.startIngress();
      await this.startEgress();
      await this.startReadiness();
      this.live = true;
      this.goLive();
    })().catch((e: Error) => this.log(`sidecar failed to go live: ${e.message}`));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.streams) s.close();
    for (const s of this.servers) {
      s.close();
      for (const socket of accepted.get(s) ?? []) socket.destroy();
    }
  }
}
