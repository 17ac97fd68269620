/**
 * The server.conf and agent.conf the dev stack deploys, checked by SPIRE 1.13.3 itself (`validate`), plus
 * broken variants that prove validate really reads them. `validate` parses the config, checks required and
 * unknown keys, durations and trust domain, but does not load plugins (so plugin names are not checked).
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spireBinary } from "../../local/spireHarness";
import { baseName, renderStack } from "../support/render";

interface Validation {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Reads data[key] of the ConfigMap `name` exactly as the stack registers it. */
async function renderedConfig(name: string, key: string): Promise<string> {
  const render = await renderStack("dev");
  const maps = render.resources.filter(
    (r) =>
      r.type === "kubernetes:core/v1:ConfigMap" &&
      baseName((r.inputs.metadata as { name?: string })?.name ?? "") === name,
  );
  assert.equal(maps.length, 1, `expected one ConfigMap ${name}`);
  const text = (maps[0].inputs.data as Record<string, string> | undefined)?.[key];
  assert.equal(typeof text, "string", `ConfigMap ${name} has no ${key}`);
  return text as string;
}

/** Replaces `from` (which must occur) so a typo in a test can never leave the config unbroken. */
function edit(text: string, from: string | RegExp, to: string): string {
  const changed = text.replace(from, to);
  assert.notEqual(changed, text, `edit: ${from} not found in the config`);
  return changed;
}

describe("SPIRE validate accepts the deployed configuration", function () {
  this.timeout(60_000);
  let dir: string;
  let serverConf: string;
  let agentConf: string;

  const validate = (binary: "spire-server" | "spire-agent", text: string, file: string): Validation => {
    const configPath = path.join(dir, file);
    fs.writeFileSync(configPath, text);
    const r = spawnSync(spireBinary(binary), ["validate", "-config", configPath], {
      encoding: "utf8",
      timeout: 20_000,
    });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-conf-"));
    serverConf = await renderedConfig("spire-server", "server.conf");
    agentConf = await renderedConfig("spire-agent", "agent.conf");
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("spire-server validate accepts the rendered server.conf", () => {
    const r = validate("spire-server", serverConf, "server.conf");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /SPIRE server configuration file is valid\./);
  });

  it("spire-agent validate accepts the rendered agent.conf", () => {
    const r = validate("spire-agent", agentConf, "agent.conf");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /SPIRE agent configuration file is valid\./);
  });

  describe("and rejects broken variants", () => {
    const unknownKey = (r: Validation, who: "server" | "agent", key: string) => {
      assert.equal(r.status, 1, `${key} should be rejected:\n${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`SPIRE ${who} configuration file is invalid: unknown configuration detected`),
      );
      // The log line names the offending key and section.
      assert.match(
        r.stdout + r.stderr,
        new RegExp(`Unknown configuration detected.*keys=${key} section=${who}`),
      );
    };

    it("server: the walkthrough's default_svid_ttl (removed in 1.6)", () => {
      const broken = edit(serverConf, /\bdefault_x509_svid_ttl\b/, "default_svid_ttl");
      unknownKey(validate("spire-server", broken, "svid-ttl.conf"), "server", "default_svid_ttl");
    });

    it("server: the walkthrough's registration_uds_path (removed in 1.0)", () => {
      const broken = edit(
        serverConf,
        /^server \{\n/m,
        'server {\n  registration_uds_path = "/tmp/spire-registration.sock"\n',
      );
      unknownKey(validate("spire-server", broken, "uds.conf"), "server", "registration_uds_path");
    });

    it("server: a ca_ttl in days, which Go durations do not have", () => {
      const r = validate(
        "spire-server",
        edit(serverConf, /ca_ttl = "[^"]+"/, 'ca_ttl = "1d"'),
        "ca-ttl.conf",
      );
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /SPIRE server configuration file is invalid: could not parse default CA ttl "1d"/,
      );
    });

    it("agent: the walkthrough's enable_sds (removed in 1.0; SDS is always on)", () => {
      const broken = edit(agentConf, /^agent \{\n/m, "agent {\n  enable_sds = true\n");
      unknownKey(validate("spire-agent", broken, "enable-sds.conf"), "agent", "enable_sds");
    });

    it("agent: insecure_bootstrap together with trust_bundle_path", () => {
      const broken = edit(agentConf, /^agent \{\n/m, "agent {\n  insecure_bootstrap = true\n");
      const r = validate("spire-agent", broken, "bootstrap.conf");
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /SPIRE agent configuration file is invalid: only one of insecure_bootstrap or trust_bundle_path/,
      );
    });

    it("agent: an uppercase trust domain", () => {
      const broken = edit(agentConf, /trust_domain = "([^"]+)"/, 'trust_domain = "Howto-K8s.aws"');
      const r = validate("spire-agent", broken, "trust-domain.conf");
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        /could not parse trust_domain "Howto-K8s\.aws": trust domain characters are limited/,
      );
    });
  });

  // Why no k8s_sat case above: validate never loads plugins; only `run` catches the attestor removed in 1.12.
  it("a k8s_sat attestor passes validate but spire-server run refuses to load it", () => {
    const dataDir = path.join(dir, "sat-data");
    const sat = edit(
      edit(serverConf, /NodeAttestor "k8s_psat"/, 'NodeAttestor "k8s_sat"'),
      /\/run\/spire\/data/g,
      dataDir,
    );
    assert.equal(validate("spire-server", sat, "sat.conf").status, 0);
    // Plugins load before any port is bound, so the deployed ports cannot clash with anything here.
    const r = spawnSync(spireBinary("spire-server"), ["run", "-config", path.join(dir, "sat.conf")], {
      encoding: "utf8",
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    assert.equal(r.status, 1, `run should fail:\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /no built-in plugin \\"k8s_sat\\" for type \\"NodeAttestor\\"/);
  });
});
