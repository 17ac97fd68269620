/**
 * npm run demo: the walkthrough's mTLS checks end to end, without a cloud or a cluster. Real SPIRE 1.13.3 on
 * loopback, the dev stack's entries registered through the same entry code as SpireEntry, the real apps behind
 * TLS sidecars that run the rendered Envoy bootstraps, then the walkthrough's evidence: certificates, SDS and
 * cluster health, handshake counters, blue and red answering, green failing, and green working once registered.
 * Then Step 7, the ingress gateway (demoGateway.ts). The stack renders with gateway=true throughout.
 */
import { setTimeout as delay } from "node:timers/promises";
import { type LocalMesh, registerLocally, startLocalMesh, statValue } from "../local/mesh";
import { killAll } from "../local/processes";
import { startSpire } from "../local/spireHarness";
import { renderProgram } from "../render/runtime";
import { FRONT, GATEWAY, gatewaySteps } from "./demoGateway";

const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
const GREEN = `${TD}/colorgreen`;
const outcomes: [string, boolean][] = [];

function expect(what: string, ok: boolean): void {
  outcomes.push([what, ok]);
  console.log(`${ok ? "  ✔" : "  ✘"} ${what}`);
}

const step = (title: string) => console.log(`\n== ${title}`);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(200);
  }
}

/** The walkthrough's curler: a plaintext request to front with the colour header. */
async function curl(mesh: LocalMesh, color: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${mesh.ingressUrl("front")}/`, { headers: { color_header: color } });
  return { status: response.status, body: (await response.text()).trim() };
}

function printCerts(json: string): number {
  const { certificates } = JSON.parse(json) as {
    certificates: { ca_cert: Record<string, unknown>[]; cert_chain: Record<string, unknown>[] }[];
  };
  for (const c of certificates) {
    for (const [kind, list] of [
      ["ca_cert", c.ca_cert],
      ["cert_chain", c.cert_chain],
    ] as const) {
      for (const cert of list) {
        const sans = (cert.subject_alt_names as { uri: string }[]).map((s) => s.uri).join(", ");
        console.log(
          `    ${kind}: SAN ${sans}  serial ${cert.serial_number}  ${cert.valid_from} -> ${cert.expiration_time}`,
        );
      }
    }
  }
  return certificates.length;
}

async function main() {
  const started = Date.now();
  step("Rendering the dev stack (envoy data plane, gateway=true) and starting SPIRE 1.13.3 on loopback");
  const gateway = { gateway: "true" };
  const dev = await renderProgram({ stack: "dev", overrides: gateway });
  const withGreen = await renderProgram({ stack: "dev", overrides: { ...gateway, registerGreen: "true" } });
  const strictGateway = await renderProgram({
    stack: "dev",
    overrides: { ...gateway, registerGreen: "true", gatewayCallers: FRONT },
  });
  const spire = await startSpire({ agentAlias: `${TD}/ns/spire/sa/spire-agent` });
  try {
    const mesh = await startLocalMesh(spire, dev);
    try {
      step("Registering the dev stack's entries (register_server_entries.sh register)");
      // The gateway's own entry waits for Step 7, which shows the gateway failing without it.
      const registered = registerLocally(spire, dev, mesh, (id) => id !== GATEWAY);
      for (const id of registered) console.log(`    ${id}`);
      expect("green is not registered", !registered.includes(GREEN));

      step("Step 4: SDS and certificates (front)");
      await until("front's SVID", async () =>
        printCertsQuiet(await mesh.admin("front", "/certs")) ? true : undefined,
      );
      console.log(
        (await mesh.admin("front", "/clusters"))
          .split("\n")
          .filter((l) => l.startsWith("static_cluster_sds"))
          .map((l) => `    ${l}`)
          .join("\n"),
      );
      expect(
        "front's certificate chain carries its SPIFFE ID",
        (await mesh.admin("front", "/certs")).includes(`"uri": "${TD}/front"`),
      );
      printCerts(await mesh.admin("front", "/certs"));
      console.log("  green's /certs:");
      expect("green has no certificate", printCerts(await mesh.admin("green", "/certs")) === 0);

      step("Step 4: cluster health on front (waiting for two health checks)");
      const health = await until("blue and red healthy", async () => {
        const text = await mesh.admin("front", "/clusters");
        return /_blue_.*healthy$/m.test(text) && /_red_.*healthy$/m.test(text) ? text : undefined;
      });
      for (const line of health
        .split("\n")
        .filter((l) => l.includes("health_flags") && l.startsWith("cds_"))) {
        console.log(`    ${line}`);
      }
      expect("green is /failed_active_hc", /_green_.*failed_active_hc$/m.test(health));

      step("Step 5: requests through front (curler)");
      for (const color of ["blue", "red", "green"]) {
        const r = await curl(mesh, color);
        console.log(`    color_header: ${color} -> ${r.status} ${r.body}`);
        if (color === "green") expect("green fails: it has no SVID", r.status !== 200);
        else expect(`${color} answers ${color}`, r.status === 200 && r.body === color);
      }
      const frontStats = await mesh.admin("front", "/stats?filter=ssl.handshake");
      console.log(
        frontStats
          .split("\n")
          .filter(Boolean)
          .map((l) => `    front ${l}`)
          .join("\n"),
      );
      for (const color of ["blue", "red"]) {
        const s = await mesh.admin(color, "/stats?filter=ssl.handshake");
        console.log(`    ${color} ${s.trim()}`);
        expect(
          `${color}'s listener counted handshakes`,
          statValue(s, "listener.0.0.0.0_15000.ssl.handshake") > 0,
        );
      }

      step("Step 6: registering green (register_server_entries.sh registerGreen)");
      const t0 = Date.now();
      registerLocally(spire, withGreen, mesh, (id) => id === GREEN);
      const green = await until("green's first successful request", async () => {
        const r = await curl(mesh, "green");
        return r.status === 200 ? r : undefined;
      });
      const seconds = (Date.now() - t0) / 1000;
      console.log(
        `    color_header: green -> ${green.status} ${green.body}  (${seconds.toFixed(1)} s after registration)`,
      );
      expect("green answers green after registration", green.body === "green");
      console.log("  green's /certs:");
      expect("green now has its certificate", printCerts(await mesh.admin("green", "/certs")) > 0);
      const greenStats = await mesh.admin("green", "/stats?filter=ssl.handshake");
      console.log(`    green ${greenStats.trim()}`);
      expect(
        "green's listener counted a handshake",
        statValue(greenStats, "listener.0.0.0.0_15000.ssl.handshake") > 0,
      );

      await gatewaySteps({ expect, step, until }, spire, mesh, {
        plaintext: withGreen,
        strict: strictGateway,
      });
    } finally {
      await mesh.stop();
    }
  } finally {
    await spire.stop();
  }
  const failed = outcomes.filter(([, ok]) => !ok);
  console.log(
    `\n${outcomes.length - failed.length} passed, ${failed.length} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
}

function printCertsQuiet(json: string): boolean {
  return (JSON.parse(json) as { certificates: unknown[] }).certificates.length > 0;
}

main()
  .catch((e: Error) => {
    console.error(`demo failed: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(() => killAll());
