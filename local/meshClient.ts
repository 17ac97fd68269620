/**
 * A client of the local mesh from outside any sidecar, as the tests and the demo need one: it holds a SPIFFE ID
 * (an entry for this process's own uid, its SVID fetched over SDS into memory, never written to disk) and sends
 * HTTP or HTTPS requests with it, or with no certificate at all.
 */
import * as http from "node:http";
import * as https from "node:https";
import { setTimeout as delay } from "node:timers/promises";
import { fetchSecrets } from "./sdsClient";
import type { SpireHarness } from "./spireHarness";

export interface Credentials {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** Registers `id` for this process's uid under the agent's alias and waits for its SVID and bundle over SDS. */
export async function holdIdentity(spire: SpireHarness, id: string, parentId: string): Promise<Credentials> {
  // The bundle's SDS name is the trust domain's ID: spiffe://<trust domain>.
  const trustDomainId = id.replace(/^(spiffe:\/\/[^/]+).*$/, "$1");
  const r = spire.server([
    "entry",
    "create",
    "-spiffeID",
    id,
    "-parentID",
    parentId,
    "-selector",
    spire.workloadSelector,
  ]);
  if (r.status !== 0) throw new Error(`entry create ${id}: ${r.stderr}`);
  const node = { metadata: { disable_spiffe_cert_validation: true } };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const [svid] = await fetchSecrets(spire.agentSocket, [id], { node });
      const [bundle] = await fetchSecrets(spire.agentSocket, [trustDomainId], { node });
      return {
        cert: svid.tlsCertificate?.certificateChainPem ?? "",
        key: svid.tlsCertificate?.privateKeyPem() ?? "",
        ca: bundle.validationContext?.trustedCaPem ?? "",
      };
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await delay(500);
    }
  }
}

/** A request (GET unless told) straight at a listener: the status and body, or the error code that stopped it (ECONNRESET...). */
export function probe(
  url: string,
  options: {
    readonly credentials?: Credentials;
    readonly headers?: Record<string, string>;
    readonly method?: string;
  } = {},
): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const tls = options.credentials
      ? { ...options.credentials, checkServerIdentity: () => undefined }
      : { rejectUnauthorized: false };
    const request = { agent: false, headers: options.headers ?? {}, method: options.method ?? "GET" };
    const onResponse = (res: http.IncomingMessage) => {
      let body = "";
      res.on("data", (d) => {
        body += d;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: body.trim() }));
    };
    const req = url.startsWith("https")
      ? https.request(url, { ...request, ...tls }, onResponse)
      : http.request(url, request, onResponse);
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.end();
  });
}

/** A probe's outcome in one word for logs and assertions: the status, or the error. */
export const outcome = (r: { status: number } | string) => (typeof r === "string" ? r : r.status);
