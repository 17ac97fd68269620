/** A minimal Kubernetes API client over HTTPS with a client certificate, for the loopback cluster's own tools. */
import * as fs from "node:fs";
import * as https from "node:https";

export interface KubeResponse {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: API objects are read loosely by the callers.
  readonly body: any;
}

export interface KubeCredentials {
  readonly server: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export class KubeApi {
  private readonly agent: https.Agent;

  constructor(private readonly credentials: KubeCredentials) {
    this.agent = new https.Agent({
      ca: fs.readFileSync(credentials.caFile),
      cert: fs.readFileSync(credentials.certFile),
      key: fs.readFileSync(credentials.keyFile),
      keepAlive: true,
    });
  }

  /** Reads the server and file references from a kubeconfig written by kubeconfigFor (pki.ts). */
  static fromKubeconfig(file: string): KubeApi {
    const config = JSON.parse(fs.readFileSync(file, "utf8"));
    const cluster = config.clusters[0].cluster;
    const user = config.users[0].user;
    return new KubeApi({
      server: cluster.server,
      caFile: cluster["certificate-authority"],
      certFile: user["client-certificate"],
      keyFile: user["client-key"],
    });
  }

  request(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<KubeResponse> {
    const url = new URL(path, this.credentials.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}),
          },
          timeout: 10_000,
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () => {
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // plain-text answers such as /readyz
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  async get(path: string): Promise<KubeResponse> {
    return this.request("GET", path);
  }

  close(): void {
    this.agent.destroy();
  }
}
