/**
 * A small TLS sidecar that runs a rendered Envoy bootstrap's mesh policy on loopback, with Node's OpenSSL: it
 * streams its SVID and trust bundle over SDS from the SPIRE agent under the bootstrap's secret names, enforces the
 * ingress mode (STRICT, PERMISSIVE or plaintext) with the exact SAN list, routes egress by the router's headers to
 * per-backend mTLS clusters with their own SAN check, runs the active health checks, and serves Envoy-shaped
 * /stats, /certs and /clusters on an admin port. It stands in for Envoy where no Envoy binary can run.
 */
import { X509Certificate } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";
import type { SidecarPlan, TlsPlan } from "./bootstrapPlan";
import { type SdsStream, streamSecrets } from "./sdsClient";

export interface Placement {
  /** The agent socket to use instead of the rendered pipe path. */
  readonly agentSocket: string;
  readonly ingressPort: number;
  /** `127.0.0.1:<port>` of this workload's app. */
  readonly app: string;
  readonly readinessPort: number;
  readonly adminPort: number;
  /** Rendered egress listener name -> local `ip:port`. */
  readonly egress: Readonly<Record<string, string>>;
  /** Rendered cluster endpoint (`service:port`) -> the local `ip:port` of that service's sidecar. */
  readonly endpoints: Readonly<Record<string, string>>;
}

interface Identity {
  chainPem?: string;
  keyPem?: () => string;
  caPem?: string;
}

const split = (hostPort: string) => {
  const i = hostPort.lastIndexOf(":");
  return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
};

const uriSans = (cert: { subjectaltname?: string } | undefined) =>
  (cert?.subjectaltname ?? "")
    .split(", ")
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));

export class Sidecar {
  private readonly stats = new Map<string, number>();
  private readonly identities = new Map<string, Identity>();
  private readonly streams: SdsStream[] = [];
  private openStreams = 0;
  private readonly servers: net.Server[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly health = new Map<string, { healthy: boolean; successes: number; failures: number }>();
  private stopped = false;
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
    return { chainPem: cert?.chainPem, keyPem: cert?.keyPem, caPem: trust?.caPem };
  }

  private ready(t: TlsPlan): boolean {
    const id = this.identity(t);
    return Boolean(id.chainPem && id.keyPem && id.caPem);
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
              this.identities.set(secret.name, current);
            }
          }
        } catch (e) {
          if (this.stopped) return;
          this.count(`sds.${name}.update_rejected`);
          this.log(`sds ${name}: ${(e as Error).message}`);
        } finally {
          this.openStreams--;
          stream.close();
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    void loop();
  }

  private proxyToApp(req: http.IncomingMessage, res: http.ServerResponse, path = req.url ?? "/"): void {
    const app = split(this.place.app);
    const upstream = http.request(
      { host: app.host, port: app.port, method: req.method, path, headers: req.headers, agent: false },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(503).end("upstream connect error");
    });
    req.pipe(upstream);
  }

  /** Ingress on the mesh port: TLS with client certs and the SAN list, plaintext, or either (PERMISSIVE). */
  private startIngress(): net.Server {
    const httpServer = http.createServer((req, res) => this.proxyToApp(req, res));
    const tlsPlan = this.plan.ingress.tls;
    const acceptTls = (socket: net.Socket) => {
      if (!tlsPlan || !this.ready(tlsPlan)) {
        // Like Envoy with its secrets not ready: the listener is up but resets connections.
        this.count(`${this.ingressStat}.ssl.connection_error`);
        socket.destroy();
        return;
      }
      const id = this.identity(tlsPlan);
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: tls.createSecureContext({ cert: id.chainPem, key: id.keyPem?.(), ca: id.caPem }),
        requestCert: this.plan.ingress.requireClientCertificate,
        rejectUnauthorized: this.plan.ingress.requireClientCertificate,
      });
      secure.on("error", () => {
        this.count(`${this.ingressStat}.ssl.connection_error`);
        secure.destroy();
      });
      secure.on("secure", () => {
        const peer = uriSans(secure.getPeerCertificate());
        if (tlsPlan.allowedSans.length > 0 && !peer.some((san) => tlsPlan.allowedSans.includes(san))) {
          this.count(`${this.ingressStat}.ssl.fail_verify_san`);
          secure.destroy();
          return;
        }
        this.count(`${this.ingressStat}.ssl.handshake`);
        httpServer.emit("connection", secure);
      });
    };
    const server = net.createServer((socket) => {
      if (this.plan.ingress.mode === "PLAINTEXT") {
        httpServer.emit("connection", socket);
        return;
      }
      // tls_inspector: a TLS ClientHello starts with record type 22.
      socket.once("data", (first) => {
        socket.pause();
        socket.unshift(first);
        if (first[0] === 0x16) acceptTls(socket);
        else if (this.plan.ingress.mode === "PERMISSIVE") {
          this.count(`${this.ingressStat}.plaintext`);
          httpServer.emit("connection", socket);
          socket.resume();
        } else {
          this.count(`${this.ingressStat}.ssl.connection_error`);
          socket.destroy();
        }
      });
    });
    return server.listen(this.place.ingressPort, "127.0.0.1");
  }

  /** An mTLS request to a backend cluster, checking the server's URI SAN against the cluster's exact list. */
  private upstream(
    clusterName: string,
    options: http.RequestOptions,
    timeoutMs?: number,
  ): http.ClientRequest {
    const cluster = this.plan.clusters.find((c) => c.name === clusterName);
    if (!cluster) throw new Error(`no cluster ${clusterName}`);
    const target = split(this.place.endpoints[cluster.endpoint] ?? cluster.endpoint);
    const id = this.identity(cluster.tls);
    const req = https.request({
      ...options,
      host: target.host,
      port: target.port,
      agent: false,
      cert: id.chainPem,
      key: id.keyPem?.(),
      ca: id.caPem,
      timeout: timeoutMs,
      // SPIFFE identity, not host names: the server must present one of the cluster's URI SANs.
      checkServerIdentity: (_host, cert) => {
        const sans = uriSans(cert);
        if (cluster.tls.allowedSans.some((s) => sans.includes(s))) return undefined;
        this.count(`cluster.${clusterName}.ssl.fail_verify_san`);
        return new Error(`server SANs ${sans.join(",")} not in ${cluster.tls.allowedSans.join(",")}`);
      },
    });
    req.on("socket", (s) =>
      s.once("secureConnect", () => this.count(`cluster.${clusterName}.ssl.handshake`)),
    );
    return req;
  }

  private startEgress(): net.Server[] {
    return this.plan.egress.map((egress) => {
      const server = http.createServer((req, res) => {
        const host = String(req.headers.host ?? "");
        const route = egress.domains.includes(host)
          ? egress.routes.find((r) => req.headers[r.header] === r.value)
          : undefined;
        if (!route) {
          res.writeHead(404).end();
          return;
        }
        const cluster = this.plan.clusters.find((c) => c.name === route.cluster);
        if (!cluster || !this.ready(cluster.tls)) {
          this.count(`cluster.${route.cluster}.upstream_cx_none_healthy`);
          res.writeHead(503).end("no healthy upstream");
          return;
        }
        const up = this.upstream(route.cluster, { method: req.method, path: req.url, headers: req.headers });
        up.on("response", (r) => {
          this.count(`cluster.${route.cluster}.upstream_rq_${r.statusCode}`);
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        });
        up.on("error", () => {
          this.count(`cluster.${route.cluster}.upstream_cx_connect_fail`);
          if (!res.headersSent)
            res.writeHead(503).end("upstream connect error or disconnect/reset before headers");
        });
        req.pipe(up);
      });
      const local = split(this.place.egress[egress.listener]);
      return server.listen(local.port, local.host);
    });
  }

  /** Active health checks over each cluster's mTLS socket, with the target's thresholds. */
  private startHealthChecks(): void {
    for (const cluster of this.plan.clusters) {
      const hc = cluster.healthCheck;
      if (!hc) continue;
      const state = { healthy: false, successes: 0, failures: 0 };
      this.health.set(cluster.name, state);
      const check = () => {
        const done = (ok: boolean) => {
          this.count(`cluster.${cluster.name}.health_check.${ok ? "success" : "failure"}`);
          state.successes = ok ? state.successes + 1 : 0;
          state.failures = ok ? 0 : state.failures + 1;
          if (ok && state.successes >= hc.healthyThreshold) state.healthy = true;
          if (!ok && state.failures >= hc.unhealthyThreshold) state.healthy = false;
        };
        if (!this.ready(cluster.tls)) return done(false);
        const req = this.upstream(cluster.name, { method: "GET", path: hc.path }, hc.timeoutMs);
        req.on("response", (r) => {
          r.resume();
          done(r.statusCode === 200);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => done(false));
        req.end();
      };
      this.timers.push(setInterval(check, hc.intervalMs));
      check();
    }
  }

  private certsJson() {
    const describe = (pem?: string) =>
      (pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => {
        const c = new X509Certificate(block);
        return {
          path: "<inline>",
          serial_number: c.serialNumber.toLowerCase(),
          subject_alt_names: uriSans({ subjectaltname: c.subjectAltName }).map((uri) => ({ uri })),
          days_until_expiration: String(Math.floor((Date.parse(c.validTo) - Date.now()) / 86_400_000)),
          valid_from: new Date(c.validFrom).toISOString(),
          expiration_time: new Date(c.validTo).toISOString(),
        };
      });
    const names = new Set(
      [this.plan.ingress.tls, ...this.plan.clusters.map((c) => c.tls)]
        .filter((t) => t)
        .map((t) => (t as TlsPlan).certificate),
    );
    const trust = this.plan.ingress.tls?.trust ?? this.plan.clusters[0]?.tls.trust;
    return {
      certificates: [...names]
        .filter((n) => this.identities.get(n)?.chainPem)
        .map((n) => ({
          ca_cert: describe(trust ? this.identities.get(trust)?.caPem : undefined),
          cert_chain: describe(this.identities.get(n)?.chainPem),
        })),
    };
  }

  private clustersText(): string {
    const lines = [
      `static_cluster_sds_unix_socket::${this.place.agentSocket}::cx_active::${this.openStreams}`,
      `static_cluster_sds_unix_socket::${this.place.agentSocket}::health_flags::healthy`,
    ];
    for (const c of this.plan.clusters) {
      const state = this.health.get(c.name);
      lines.push(
        `${c.name}::${c.endpoint}::health_flags::${state?.healthy ? "healthy" : "/failed_active_hc"}`,
      );
    }
    return `${lines.join("\n")}\n`;
  }

  private startAdmin(): net.Server {
    return http
      .createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0];
        if (path === "/stats") {
          const filter = new URL(req.url ?? "/", "http://x").searchParams.get("filter");
          const lines = [...this.stats.entries()]
            .filter(([k]) => !filter || k.includes(filter))
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => `${k}: ${v}`);
          res.end(`${lines.join("\n")}\n`);
        } else if (path === "/certs") res.end(JSON.stringify(this.certsJson(), null, 2));
        else if (path === "/clusters") res.end(this.clustersText());
        else res.writeHead(404).end();
      })
      .listen(this.place.adminPort, "127.0.0.1");
  }

  private startReadiness(): net.Server {
    return http
      .createServer((req, res) => {
        if (req.url === this.plan.readiness.path) this.proxyToApp(req, res, this.plan.readiness.appPath);
        else res.writeHead(404).end();
      })
      .listen(this.place.readinessPort, "127.0.0.1");
  }

  async start(): Promise<void> {
    const names = new Set<string>();
    for (const t of [this.plan.ingress.tls, ...this.plan.clusters.map((c) => c.tls)]) {
      if (t) names.add(t.certificate).add(t.trust);
    }
    for (const name of names) this.subscribe(name);
    this.servers.push(this.startIngress(), ...this.startEgress(), this.startAdmin(), this.startReadiness());
    await Promise.all(
      this.servers.map((s) => (s.listening ? Promise.resolve() : new Promise((r) => s.once("listening", r)))),
    );
    this.startHealthChecks();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const s of this.streams) s.close();
    for (const s of this.servers) {
      s.close();
      (s as http.Server).closeAllConnections?.();
    }
  }
}
