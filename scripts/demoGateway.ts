/**
 * npm run demo's Step 7, the walkthrough's "mTLS on VirtualGateway" made real (issue 13): the dev stack's ingress
 * gateway (gateway=true) on loopback from its rendered bootstrap, Envoy alone in the local sidecar. It fails
 * while its own entry is missing, then reaches blue and red over mTLS with its SVID once registered; rolled out
 * onto the render with gatewayCallers, its STRICT listener turns away plaintext, a client without a certificate
 * and one whose SPIFFE ID is not a caller, and admits the one that is.
 */
import { type LocalMesh, registerLocally, renderedBootstrap, statValue } from "../local/mesh";
import { type Credentials, holdIdentity, outcome, probe } from "../local/meshClient";
import type { SpireHarness } from "../local/spireHarness";
import type { RenderResult } from "../render/runtime";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
export const GATEWAY = `${TD}/gateway`;
export const FRONT = `${TD}/front`;
const AGENT = `${TD}/ns/spire/sa/spire-agent`;

/** The demo's reporting: an expected outcome, a step title, and a wait with a deadline. */
export interface DemoReport {
  expect(what: string, ok: boolean): void;
  step(title: string): void;
  until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs?: number): Promise<T>;
}

export interface GatewayRenders {
  /** The dev stack with gateway=true: the gateway's entry and its plaintext listener. */
  readonly plaintext: RenderResult;
  /** The same with gatewayCallers=front: its listener STRICT, admitting only front. */
  readonly strict: RenderResult;
}

const shown = (r: { status: number; body: string } | string) =>
  typeof r === "string" ? r : `${r.status} ${r.body}`;
const cluster = (color: string) =>
  `cds_egress_howto-k8s-mtls-sds-based_${color}_howto-k8s-mtls-sds-based_http_8080`;

export async function gatewaySteps(
  report: DemoReport,
  spire: SpireHarness,
  mesh: LocalMesh,
  renders: GatewayRenders,
): Promise<void> {
  const { expect, step, until } = report;
  const url = `${mesh.ingressUrl("gateway")}/color`;
  const through = (color: string, target = url, credentials?: Credentials) =>
    probe(target, { credentials, headers: { color_header: color } });

  step("Step 7: the ingress gateway (gateway=true), routing /color to virtual service color over mTLS");
  console.log(`    gateway's /ready: ${(await mesh.admin("gateway", "/ready")).trim()}`);
  const unregistered = await through("blue");
  console.log(`    GET /color, color_header: blue -> ${shown(unregistered)}`);
  expect("the gateway fails while its own entry is missing", outcome(unregistered) !== 200);

  console.log("  registering the gateway's entry");
  const t0 = Date.now();
  registerLocally(spire, renders.plaintext, mesh, (id) => id === GATEWAY);
  await until("the gateway's first successful request", async () =>
    outcome(await through("blue")) === 200 ? true : undefined,
  );
  console.log(
    `    first 200 through the gateway ${((Date.now() - t0) / 1000).toFixed(1)} s after registration`,
  );
  for (const color of ["blue", "red", "green"]) {
    const r = await through(color);
    console.log(`    gateway /color, color_header: ${color} -> ${shown(r)}`);
    expect(`${color} answers ${color} through the gateway`, shown(r) === `200 ${color}`);
  }
  const stats = await mesh.admin("gateway", "/stats?filter=ssl.handshake");
  for (const line of stats.split("\n").filter(Boolean)) console.log(`    gateway ${line}`);
  expect(
    "the gateway's mTLS to blue and red counted handshakes (its SVID, their exact SAN)",
    ["blue", "red"].every((c) => statValue(stats, `cluster.${cluster(c)}.ssl.handshake`) > 0),
  );

  step("Step 7: a STRICT gateway listener (gatewayCallers=front), rolled out from its render");
  await mesh.rollOut("gateway", renderedBootstrap(renders.strict, "gateway"));
  // The demo acts as the callers: an entry for its own uid, the SVID in memory.
  const asFront = await holdIdentity(spire, FRONT, AGENT);
  const asRed = await holdIdentity(spire, `${TD}/colorred`, AGENT);
  const tlsUrl = url.replace("http:", "https:");
  await until("the STRICT gateway's listener", async () =>
    outcome(await through("blue", tlsUrl, asFront)) === 200 ? true : undefined,
  );
  const cases: [string, Promise<{ status: number; body: string } | string>, boolean][] = [
    ["plaintext", through("blue"), false],
    [
      "TLS without a client certificate",
      through("blue", tlsUrl, { cert: "", key: "", ca: asFront.ca }),
      false,
    ],
    ["TLS as colorred (not a caller)", through("blue", tlsUrl, asRed), false],
    ["TLS as front (the caller)", through("blue", tlsUrl, asFront), true],
  ];
  for (const [client, pending, admitted] of cases) {
    const r = await pending;
    console.log(`    ${client} -> ${shown(r)}`);
    expect(
      `${admitted ? "admits" : "rejects"} ${client}`,
      admitted ? shown(r) === "200 blue" : outcome(r) !== 200,
    );
  }
  const listener = await mesh.admin("gateway", "/stats?filter=listener.0.0.0.0_8088");
  for (const line of listener.split("\n").filter(Boolean)) console.log(`    gateway ${line}`);
}
