/**
 * The pack as a whole: stable rule names and default levels, config schemas whose defaults are the ones the
 * rules apply, the README's rule table, the walkthrough's pack config, and the files the engine reads.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import Ajv from "ajv";
import { parse } from "yaml";
import {
  AUTHORIZATION_RULES_DEFAULTS,
  AWS_TAGGED_DEFAULTS,
  EKS_STANDARD_SUPPORT_DEFAULTS,
  HOST_ACCESS_DEFAULTS,
  IDENTITIES_REGISTERED_DEFAULTS,
  IMDS_HOP_LIMIT_DEFAULTS,
  isResourcePolicy,
  isStackPolicy,
  MTLS_STRICT_DEFAULTS,
  PACK_NAME,
  PINNED_IMAGES_DEFAULTS,
  policies,
  RBAC_DEFAULTS,
  SVID_LIFETIMES_DEFAULTS,
} from "../../policy/policies";

const REPO = path.resolve(__dirname, "../..");
const read = (file: string) => fs.readFileSync(path.join(REPO, file), "utf8");

describe("spire-mesh policy pack", () => {
  it("has eleven rules with stable names and default levels, each described", () => {
    assert.deepEqual(
      policies.map((p) => [p.name, p.enforcementLevel]),
      [
        ["mtls-strict-listeners", "mandatory"],
        ["identities-registered", "mandatory"],
        ["host-access-agent-only", "mandatory"],
        ["images-pinned", "advisory"],
        ["svid-lifetimes", "mandatory"],
        ["no-key-material", "mandatory"],
        ["rbac-least-privilege", "mandatory"],
        ["imds-hop-limit", "advisory"],
        ["eks-standard-support", "advisory"],
        ["aws-resources-tagged", "advisory"],
        ["authorization-rules", "advisory"],
      ],
    );
    for (const p of policies) assert.ok(p.description.length > 40, p.name);
    // Stack rules need the graph; the rest check one resource's inputs before it is created.
    assert.deepEqual(
      policies.filter(isStackPolicy).map((p) => p.name),
      ["identities-registered", "svid-lifetimes", "no-key-material"],
    );
    assert.deepEqual(
      policies.filter(isResourcePolicy).map((p) => p.name),
      [
        "mtls-strict-listeners",
        "host-access-agent-only",
        "images-pinned",
        "no-key-material",
        "rbac-least-privilege",
        "imds-hop-limit",
        "eks-standard-support",
        "aws-resources-tagged",
        "authorization-rules",
      ],
    );
  });

  it("declares each rule's config with the defaults the rule applies, never enforcementLevel", () => {
    const defaults: Record<string, object> = {
      "mtls-strict-listeners": MTLS_STRICT_DEFAULTS,
      "identities-registered": IDENTITIES_REGISTERED_DEFAULTS,
      "host-access-agent-only": HOST_ACCESS_DEFAULTS,
      "images-pinned": PINNED_IMAGES_DEFAULTS,
      "svid-lifetimes": SVID_LIFETIMES_DEFAULTS,
      "no-key-material": {},
      "rbac-least-privilege": RBAC_DEFAULTS,
      "imds-hop-limit": IMDS_HOP_LIMIT_DEFAULTS,
      "eks-standard-support": EKS_STANDARD_SUPPORT_DEFAULTS,
      "aws-resources-tagged": AWS_TAGGED_DEFAULTS,
      "authorization-rules": AUTHORIZATION_RULES_DEFAULTS,
    };
    for (const p of policies) {
      const properties = p.configSchema?.properties ?? {};
      assert.ok(!("enforcementLevel" in properties), p.name);
      const declared = Object.fromEntries(
        Object.entries(properties).map(([k, v]) => [k, (v as { default?: unknown }).default]),
      );
      assert.deepEqual(declared, defaults[p.name], p.name);
    }
  });

  it("is named spire-mesh in index.ts; PulumiPolicy.yaml and package.json are what the engine reads", () => {
    assert.match(PACK_NAME, /^[a-zA-Z0-9-_.]{1,100}$/);
    assert.equal(PACK_NAME, "spire-mesh");
    assert.match(read("policy/index.ts"), /new PolicyPack\(PACK_NAME, \{\s+policies,/);
    assert.equal(parse(read("policy/PulumiPolicy.yaml")).runtime, "nodejs");
    const pkg = JSON.parse(read("policy/package.json"));
    assert.equal(pkg.version, "0.1.0");
    assert.equal(pkg.dependencies["@pulumi/policy"], "1.21.0");
    assert.equal(read("policy/.npmrc").trim(), "omit-lockfile-registry-resolved=true");
    assert.ok(fs.statSync(path.join(REPO, "policy/run-policy-pack")).mode & 0o100, "launcher is executable");
  });

  it("validates the walkthrough's pack config against the rules' schemas", () => {
    const config = JSON.parse(read("policy/walkthrough.json"));
    const ajv = new Ajv({ strict: false });
    for (const [name, value] of Object.entries(config)) {
      const policy = policies.find((p) => p.name === name);
      assert.ok(policy, `walkthrough.json: no rule ${name}`);
      const schema = {
        type: "object",
        properties: policy.configSchema?.properties ?? {},
        additionalProperties: false,
      };
      const { enforcementLevel: _, ...properties } = value as Record<string, unknown>;
      assert.ok(ajv.validate(schema, properties), `${name}: ${ajv.errorsText()}`);
    }
  });

  it("is documented in the rule table of docs/policies.md: every rule, its default level and its config keys", () => {
    const section = read("docs/policies.md").split("\n## Policies\n")[1]?.split("\n## ")[0] ?? "";
    const rows = section
      .split("\n")
      .filter((l) => /^\| `[a-z-]+` /.test(l))
      .map((l) => l.split("|").map((c) => c.trim()));
    assert.deepEqual(
      rows.map((r) => r[1]),
      policies.map((p) => `\`${p.name}\``),
    );
    for (const [, name, , level, config] of rows) {
      const policy = policies.find((p) => `\`${p.name}\`` === name);
      assert.ok(level.startsWith(policy?.enforcementLevel ?? "?"), `${name}: ${level}`);
      for (const key of Object.keys(policy?.configSchema?.properties ?? {})) {
        assert.ok(config.includes(`\`${key}\``), `${name}: config ${key} not in the README`);
      }
    }
  });
});
