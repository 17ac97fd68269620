/**
 * One active health check of a backend cluster, over its mTLS socket, the way Envoy runs each kind: an HTTP GET
 * of the path (over HTTP/1.1 or HTTP/2), the standard grpc.health.v1.Health/Check (healthy when SERVING), or a
 * TCP connect (the TLS handshake with the SAN check included).
 */
import * as http2 from "node:http2";
import * as https from "node:https";
import * as tls from "node:tls";
import type { HealthCheckPlan } from "./bootstrapPlan";

/** HealthCheckRequest{} in a gRPC frame: not compressed, zero-length message. */
const GRPC_EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]);
/** HealthCheckResponse{status: SERVING}: field 1, varint 1. */
const SERVING = Buffer.from([0x08, 0x01]);

function viaHttp2(
  hc: HealthCheckPlan,
  host: string,
  port: number,
  options: tls.ConnectionOptions,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://${host}:${port}`, {
      createConnection: () => tls.connect({ ...options, host, port, ALPNProtocols: ["h2"] }),
    });
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      session.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    session.on("error", () => finish(false));
    const grpc = hc.kind === "grpc";
    const req = session.request(
      grpc
        ? {
            ":method": "POST",
            ":path": "/grpc.health.v1.Health/Check",
            "content-type": "application/grpc",
            te: "trailers",
          }
        : { ":method": "GET", ":path": hc.path ?? "/" },
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
      if (!grpc) return finish(status === 200);
      finish(status === 200 && grpcStatus === "0" && body.subarray(5).equals(SERVING));
    });
    req.on("error", () => finish(false));
    req.end(grpc ? GRPC_EMPTY_REQUEST : undefined);
  });
}

export function runHealthCheck(
  hc: HealthCheckPlan,
  host: string,
  port: number,
  options: tls.ConnectionOptions,
): Promise<boolean> {
  const timeoutMs = hc.timeoutMs;
  if (hc.kind === "grpc" || hc.http2) return viaHttp2(hc, host, port, options, timeoutMs);
  if (hc.kind === "tcp") {
    return new Promise((resolve) => {
      const socket = tls.connect({ ...options, host, port, timeout: timeoutMs });
      socket.once("secureConnect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("timeout", () => {
        socket.destroy();
        resolve(false);
      });
      socket.once("error", () => resolve(false));
    });
  }
  return new Promise((resolve) => {
    const req = https.request({
      ...options,
      host,
      port,
      method: "GET",
      path: hc.path,
      agent: false,
      timeout: timeoutMs,
    });
    req.on("response", (r) => {
      r.resume();
      resolve(r.statusCode === 200);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => resolve(false));
    req.end();
  });
}
