/**
 * A small TLS sidecar that runs a rendered Envoy bootstrap's mesh policy on loopback, with Node's OpenSSL, where
 * no Envoy binary can run. It streams its SVID and trust bundle over SDS from the SPIRE agent under the
 * bootstrap's secret names and, like Envoy with initial_fetch_timeout 0s, opens no listener until all of them
 * arrived. Then: the ingress mode (STRICT, PERMISSIVE or plaintext, chosen by sniffing for a TLS ClientHello as
 * tls_inspector does) with the exact SAN list, TLS 1.2-1.3 and ALPN as rendered; HTTP/1.1, HTTP/2 (gRPC
 * trailers included) or TCP to the app; egress by the router's headers to per-backend mTLS clusters with their
 * own SAN check; the active health checks; the kubelet's exact readiness route; and Envoy-shaped /stats, /certs,
 * /clusters and /ready on an admin port. Which bootstrap fields it models is bootstrapFields.ts.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import * as net from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import * as tls from "node:tls";
import type { ClusterPlan, RoutePlan, SidecarPlan, TlsPlan, WireProtocol } from "./bootstrapPlan";
import { type SdsStream, streamSecrets } from "./sdsClient";
import { certsJson, clustersText } from "./sidecarAdmin";
import { runHealthCheck } from "./sidecarHealth";
import {
  type Identity,
  pipeBoth,
  proxyHttp1,
  proxyHttp2,
  spiffeTrustError,
  split,
  tlsOptions,
  upstreamTls,
  uriSans,
} from "./sidecarProxy";
import { pickRoute, rewritten } from "./sidecarRoutes";

export interface Placement {
  /** The agent socket to use instead of the rendered pipe path. */
  readonly agentSocket: string;
  readonly ingressPort: number;
  /** `127.0.0.1:<port>` of this workload's app; none behind a gateway. */
  readonly app?: string;
  readonly readinessPort: number;
  readonly adminPort: number;
  /** Rendered egress listener name -> local `ip:port`. */
  readonly egress: Readonly<Record<string, string>>;
  /** Rendered cluster endpoint (`service:port`) -> the local `ip:port` of that service's sidecar. */
  readonly endpoints: Readonly<Record<string, string>>;
}

/** Every connection a sidecar accepted, so stopping it closes them all (server.close() leaves them open). */
const accepted = new WeakMap<net.Server, Set<net.Socket>>();

const listen = (server: net.Server, port: number, host: string) => {
  const sockets = new Set<net.Socket>();
  accepted.set(server, sockets);
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise<net.Server>((resolve) => server.listen(port, host, () => resolve(server)));
};
const internalPort = (server: net.Server) => (server.address() as net.AddressInfo).port;

export class Sidecar {
  private readonly stats = new Map<string, number>();
  private readonly identities = new Map<string, Identity>();
  private readonly streams: SdsStream[] = [];
  private openStreams = 0;
  private readonly servers: net.Server[] = [];
  private readonly secureServers: tls.Server[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly health = new Map<string, { healthy: boolean; successes: number; failures: number }>();
  private stopped = false;
  /** Stand-in only (Envoy has no such page): peers' SPIFFE IDs seen, and the last TLS error per upstream. */
  private readonly peers = new Set<string>();
  private readonly tlsErrors = new Map<string, string>();
  private live = false;
  /** The listener stat root Envoy uses: the rendered address. */
  private readonly ingressStat: string;

  constructor(
    private readonly plan: SidecarPlan,
    private readonly place: Placement,
    private readonly log: (line: string) => void = () => {},
  ) {
    this.ingressStat = `listener.0.0.0.0_${plan.ingress.port}`;
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
    const plan = this.plan.ingress.tls;
    if (!plan || !this.ready(plan)) return;
    for (const server of this.secureServers) server.setSecureContext(tlsOptions(plan, this.identity(plan)));
  }

  private appHttp2Session(): http2.ClientHttp2Session {
    return http2.connect(`http://${this.place.app}`);
  }

  /**
   * The app-facing handler of one wire protocol, as a server fed with already-accepted connections; a gateway
   * has no app: its listener routes into the mesh (HTTP/1.1, as its targets must be http).
   */
  private appServer(protocol: WireProtocol): net.Server {
    if (this.plan.ingress.gateway) return this.httpRouter(this.plan.ingress.gateway);
    const app = split(this.place.app ?? "");
    if (protocol === "tcp") {
      // tcp_proxy carries a half-close through: one side may finish sending and still receive.
      return net.createServer({ allowHalfOpen: true }, (socket) =>
        pipeBoth(socket, net.connect({ port: app.port, host: app.host, allowHalfOpen: true })),
      );
    }
    if (protocol === "http2") {
      return http2.createServer().on("stream", (stream, headers) => {
        proxyHttp2(stream, headers, this.appHttp2Session());
      });
    }
    return http.createServer((req, res) =>
      proxyHttp1(req, res, (options) =>
        http.request({ ...options, host: app.host, port: app.port, agent: false }),
      ),
    );
  }

  /**
   * The TLS filter chain: terminates TLS with the SVID, requires a client certificate when callers are
   * restricted, checks the caller's URI SAN against the exact list, then hands the stream to the app handler.
   */
  private tlsChain(plan: TlsPlan, protocol: WireProtocol): tls.Server {
    const options = {
      ...tlsOptions(plan, this.identity(plan)),
      requestCert: this.plan.ingress.requireClientCertificate,
      rejectUnauthorized: this.plan.ingress.requireClientCertificate,
    };
    const handler = this.appServer(protocol);
    const server =
      protocol === "http2"
        ? (http2.createSecureServer(options).on("stream", (stream, headers) => {
            proxyHttp2(stream, headers, this.appHttp2Session());
          }) as unknown as tls.Server)
        : tls.createServer({ ...options, allowHalfOpen: protocol === "tcp" });
    server.on("tlsClientError", () => this.count(`${this.ingressStat}.ssl.connection_error`));
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      const trustDomains = this.identity(plan).trustDomains;
      const untrusted = trustDomains && spiffeTrustError(socket.getPeerCertificate(true), trustDomains);
      if (untrusted) {
        this.count(`${this.ingressStat}.ssl.fail_verify_error`);
        this.log(`ingress: ${untrusted}`);
        socket.destroy();
        return;
      }
      const peer = uriSans(socket.getPeerCertificate());
      for (const id of peer) this.peers.add(`ingress ${id}`);
      if (plan.allowedSans.length > 0 && !peer.some((san) => plan.allowedSans.includes(san))) {
        this.count(`${this.ingressStat}.ssl.fail_verify_san`);
        socket.destroy();
        return;
      }
      this.count(`${this.ingressStat}.ssl.handshake`);
      if (protocol !== "http2") handler.emit("connection", socket);
    });
    this.secureServers.push(server);
    return server;
  }

  /** Ingress on the mesh port: sniff for TLS like tls_inspector, then the TLS or the plaintext chain. */
  private async startIngress(): Promise<void> {
    const { mode, protocol, tls: plan } = this.plan.ingress;
    const plain = mode === "STRICT" ? undefined : await listen(this.appServer(protocol), 0, "127.0.0.1");
    const secure = plan ? await listen(this.tlsChain(plan, protocol), 0, "127.0.0.1") : undefined;
    for (const s of [plain, secure]) if (s) this.servers.push(s);
    const front = net.createServer({ allowHalfOpen: protocol === "tcp" }, (socket) => {
      socket.on("error", () => socket.destroy());
      if (mode === "PLAINTEXT") {
        pipeBoth(
          socket,
          net.connect({ port: internalPort(plain as net.Server), host: "127.0.0.1", allowHalfOpen: true }),
        );
        return;
      }
      socket.once("data", (first: Buffer) => {
        // A TLS record starts with content type 22 (handshake).
        const chain = first[0] === 0x16 ? secure : mode === "PERMISSIVE" ? plain : undefined;
        if (!chain) {
          this.count(`${this.ingressStat}.ssl.connection_error`);
          socket.destroy();
          return;
        }
        if (chain === plain) this.count(`${this.ingressStat}.plaintext`);
        const inner = net.connect({ port: internalPort(chain), host: "127.0.0.1", allowHalfOpen: true });
        inner.write(first);
        pipeBoth(socket, inner);
      });
    });
    this.servers.push(await listen(front, this.place.ingressPort, "127.0.0.1"));
  }

  /** Where a cluster's rendered endpoint lives on loopback, and the client mTLS options to reach it. */
  private upstream(cluster: ClusterPlan) {
    const target = split(this.place.endpoints[cluster.endpoint] ?? cluster.endpoint);
    const options = upstreamTls(cluster.tls, this.identity(cluster.tls), () =>
      this.count(`cluster.${cluster.name}.ssl.fail_verify_san`),
    );
    return { ...target, options };
  }

  private http2Upstream(cluster: ClusterPlan): http2.ClientHttp2Session {
    const { host, port, options } = this.upstream(cluster);
    const session = http2.connect(`https://${host}:${port}`, {
      createConnection: () => {
        const socket = tls.connect({ ...options, host, port });
        socket.once("secureConnect", () => this.count(`cluster.${cluster.name}.ssl.handshake`));
        return socket;
      },
    });
    session.on("error", () => this.count(`cluster.${cluster.name}.upstream_cx_connect_fail`));
    return session;
  }

  private unavailable(cluster: ClusterPlan | undefined, name: string): boolean {
    if (cluster && this.ready(cluster.tls)) return false;
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
  private httpRouter(host: { domains: readonly string[]; routes: readonly RoutePlan[] }): http.Server {
    return http.createServer((req, res) => {
      const authority = String(req.headers.host ?? "");
      const path = req.url ?? "/";
      const route = pickRoute(host.domains, host.routes, {
        host: authority,
        path,
        header: (h) => req.headers[h],
      });
      if (!route) return void res.writeHead(404).end();
      const cluster = this.plan.clusters.find((c) => c.name === route.cluster);
      if (this.unavailable(cluster, route.cluster)) return void res.writeHead(503).end("no healthy upstream");
      const { host: upstreamHost, port, options } = this.upstream(cluster as ClusterPlan);
      const to = rewritten(route, path, authority);
      const s = this.clusterStats(route.cluster);
      proxyHttp1(
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
            sock.once("secureConnect", () => {
              this.count(`cluster.${route.cluster}.ssl.handshake`);
              for (const id of uriSans((sock as tls.TLSSocket).getPeerCertificate()))
                this.peers.add(`cluster ${route.cluster} ${id}`);
            }),
          );
          r.on("error", (e) => this.tlsErrors.set(route.cluster, e.message));
          return r;
        },
        s.ok,
        s.fail,
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
          const up = tls.connect({ ...options, socket: net.connect({ host, port, allowHalfOpen: true }) });
          up.once("secureConnect", () => this.count(`cluster.${name}.ssl.handshake`));
          pipeBoth(socket, up);
        });
      } else if (egress.protocol === "http2") {
        server = http2.createServer().on("stream", (stream, headers) => {
          const authority = String(headers[":authority"] ?? "");
          const path = String(headers[":path"] ?? "/");
          const route = pickRoute(egress.domains, egress.routes, {
            host: authority,
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
        server = this.httpRouter(egress);
      }
      const local = split(this.place.egress[egress.listener]);
      this.servers.push(await listen(server, local.port, local.host));
    }
  }

  /** Active health checks over each cluster's mTLS socket, with the target's thresholds. */
  private startHealthChecks(): void {
    for (const cluster of this.plan.clusters) {
      const hc = cluster.healthCheck;
      if (!hc) continue;
      const state = { healthy: false, successes: 0, failures: 0 };
      this.health.set(cluster.name, state);
      const check = async () => {
        const { host, port, options } = this.upstream(cluster);
        const ok = this.ready(cluster.tls) && (await runHealthCheck(hc, host, port, options));
        this.count(`cluster.${cluster.name}.health_check.${ok ? "success" : "failure"}`);
        state.successes = ok ? state.successes + 1 : 0;
        state.failures = ok ? 0 : state.failures + 1;
        if (ok && state.successes >= hc.healthyThreshold) state.healthy = true;
        if (!ok && state.failures >= hc.unhealthyThreshold) state.healthy = false;
      };
      this.timers.push(setInterval(check, hc.intervalMs));
      void check();
    }
  }

  /** Envoy's server state as its admin /ready reports it. */
  private readyAnswer(res: http.ServerResponse): void {
    if (this.live) res.end("LIVE\n");
    else res.writeHead(503).end("INITIALIZING\n");
  }

  private async startAdmin(): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/stats") {
        const filter = new URL(req.url ?? "/", "http://x").searchParams.get("filter");
        const lines = [...this.stats.entries()]
          .filter(([k]) => !filter || k.includes(filter))
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}: ${v}`);
        res.end(`${lines.join("\n")}\n`);
      } else if (path === "/certs") res.end(JSON.stringify(certsJson(this.plan, this.identities), null, 2));
      else if (path === "/clusters") {
        res.end(clustersText(this.plan, this.place.agentSocket, this.openStreams, this.health));
      } else if (path === "/ready") this.readyAnswer(res);
      else if (path === "/peers")
        res.end(
          JSON.stringify({ peers: [...this.peers].sort(), tlsErrors: Object.fromEntries(this.tlsErrors) }),
        );
      else res.writeHead(404).end();
    });
    this.servers.push(await listen(server, this.place.adminPort, "127.0.0.1"));
  }

  /** The kubelet's route: exactly the rendered method and path (query string included), else 404. */
  private async startReadiness(): Promise<void> {
    const { method, path } = this.plan.readiness;
    const server = http.createServer((req, res) => {
      if ((method === "*" || req.method === method) && req.url === path) this.readyAnswer(res);
      else res.writeHead(404).end();
    });
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
      await this.startIngress();
      await this.startEgress();
      await this.startReadiness();
      this.startHealthChecks();
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
