/**
 * Active health checking of a backend cluster as Envoy runs it. One check over the cluster's mTLS socket per
 * kind: an HTTP GET of the path (over HTTP/1.1 or HTTP/2, Host the cluster's name), the standard
 * grpc.health.v1.Health/Check (healthy when SERVING, :authority the cluster's name), or a TCP connect (the TLS
 * handshake with the SAN check included). And the host's health flag from the results, by Envoy's rules.
 */
import * as http2 from "node:http2";
import * as https from "node:https";
import * as tls from "node:tls";
import type { HealthCheckPlan } from "./bootstrapPlan";

/** Envoy's outcomes: an answer that is not healthy (ACTIVE) counts at once; no answer (NETWORK) by threshold. */
export type CheckResult = "success" | "active_failure" | "network_failure";

/** HealthCheckRequest{} in a gRPC frame: not compressed, zero-length message. */
const GRPC_EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]);
/** HealthCheckResponse{status: SERVING}: field 1, varint 1. */
const SERVING = Buffer.from([0x08, 0x01]);

function viaHttp2(
  hc: HealthCheckPlan,
  authority: string,
  host: string,
  port: number,
  options: tls.ConnectionOptions,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://${host}:${port}`, {
      createConnection: () => tls.connect({ ...options, host, port, ALPNProtocols: ["h2"] }),
    });
    const finish = (result: CheckResult) => {
      clearTimeout(timer);
      session.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish("network_failure"), hc.timeoutMs);
    session.on("error", () => finish("network_failure"));
    const grpc = hc.kind === "grpc";
    const req = session.request(
      grpc
        ? {
            ":method": "POST",
            ":path": "/grpc.health.v1.Health/Check",
            ":authority": authority,
            "content-type": "application/grpc",
            te: "trailers",
          }
        : { ":method": "GET", ":path": hc.path ?? "/", ":authority": authority },
    );
    let status = 0;
    let body = Buffer.alloc(0);
    req.on("response", (h) => {
      status = Number(h[":status"]);
    });
    req.on("data", (d: Buffer) => {
      body = Buffer.concat([body, d]);
    });
    let grpcStatus: string | undefined;
    req.on("trailers", (t) => {
      grpcStatus = String(t["grpc-status"]);
    });
    req.on("end", () => {
      if (!grpc) return finish(status === 200 ? "success" : "active_failure");
      const serving = status === 200 && grpcStatus === "0" && body.subarray(5).equals(SERVING);
      finish(serving ? "success" : "active_failure");
    });
    req.on("error", () => finish("network_failure"));
    req.end(grpc ? GRPC_EMPTY_REQUEST : undefined);
  });
}

export function runHealthCheck(
  hc: HealthCheckPlan,
  /** The cluster's name: Envoy's Host (HTTP) and :authority (gRPC) when the check sets none. */
  authority: string,
  host: string,
  port: number,
  options: tls.ConnectionOptions,
): Promise<CheckResult> {
  const timeoutMs = hc.timeoutMs;
  if (hc.kind === "grpc" || hc.http2) return viaHttp2(hc, authority, host, port, options);
  if (hc.kind === "tcp") {
    return new Promise((resolve) => {
      const socket = tls.connect({ ...options, host, port, timeout: timeoutMs });
      socket.once("secureConnect", () => {
        socket.destroy();
        resolve("success");
      });
      socket.once("timeout", () => {
        socket.destroy();
        resolve("network_failure");
      });
      socket.once("error", () => resolve("network_failure"));
    });
  }
  return new Promise((resolve) => {
    const req = https.request({
      ...options,
      host,
      port,
      method: "GET",
      path: hc.path,
      headers: { host: authority },
      agent: false,
      timeout: timeoutMs,
    });
    req.on("response", (r) => {
      r.resume();
      resolve(r.statusCode === 200 ? "success" : "active_failure");
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve("network_failure"));
    req.end();
  });
}

/** One host's health as Envoy's active health checker keeps it. */
export interface HostHealth {
  healthy: boolean;
  /** No result yet: the first success marks the host healthy at once (Envoy's fast startup). */
  firstCheck: boolean;
  successes: number;
  failures: number;
}

export const newHostHealth = (): HostHealth => ({
  healthy: false,
  firstCheck: true,
  successes: 0,
  failures: 0,
});

/**
 * Envoy's transitions: a host starts unhealthy; the first result, if a success, makes it healthy, else it
 * takes healthy_threshold successes in a row. A healthy host turns unhealthy after unhealthy_threshold network
 * failures (no connection, timeout) in a row, or at once on an unhealthy answer (non-200, not SERVING).
 */
export function recordCheck(state: HostHealth, result: CheckResult, hc: HealthCheckPlan): void {
  if (result === "success") {
    state.failures = 0;
    if (!state.healthy && (state.firstCheck || ++state.successes >= hc.healthyThreshold)) {
      state.healthy = true;
      state.successes = 0;
    }
  } else {
    state.successes = 0;
    if (state.healthy && (result === "active_failure" || ++state.failures >= hc.unhealthyThreshold)) {
      state.healthy = false;
      state.failures = 0;
    }
  }
  state.firstCheck = false;
}

/**
 * Envoy's load-balancing decision over a cluster's one endpoint. Healthy (or covered by no health check): it
 * takes the request. Unhealthy, the cluster is 0% healthy, below any panic threshold above 0%: Envoy then
 * ignores health and routes to it anyway (panic, counted as lb_healthy_panic). At a 0% threshold there is no
 * panic and no healthy host: no healthy upstream.
 */
export function balance(
  health: HostHealth | undefined,
  panicThresholdPercent: number,
): "healthy" | "panic" | "none" {
  if (!health || health.healthy) return "healthy";
  return 0 < panicThresholdPercent ? "panic" : "none";
}
