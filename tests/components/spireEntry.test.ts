/** SpireEntry's own rules, checked at construction before anything is registered. */
import * as assert from "node:assert/strict";
import { SpireEntry, SpireInstallation } from "../../components";
import { ValidationError } from "../../core/validation";
import { construct } from "../support/mocks";

const trustDomain = "example.org";
const agents = `spiffe://${trustDomain}/ns/spire/sa/spire-agent`;

async function entryError(caTtl: string, x509SvidTtl: string): Promise<unknown> {
  const { value, resources } = await construct(() => {
    const installation = new SpireInstallation("spire", { trustDomain, x509SvidTtl: "1h", caTtl });
    return new SpireEntry("web", {
      installation,
      spiffeId: `spiffe://${trustDomain}/web`,
      parentId: agents,
      selectors: ["k8s:ns:web", "k8s:sa:web"],
      x509SvidTtl,
    });
  });
  assert.equal(resources.filter((r) => r.type.startsWith("spire-mesh:index:SpireEntry")).length, 0);
  return value;
}

describe("SpireEntry", () => {
  it("rejects an entry TTL above a sixth of the CA's lifetime, naming field, value and rule", async () => {
    const error = await entryError("24h", "5h");
    assert.ok(error instanceof ValidationError, String(error));
    assert.match(
      error.message,
      /x509SvidTtl = "5h": must be at most 14400s \(ca_ttl \/ 6, so rotation always overlaps\)/,
    );
  });

  it("accepts an entry TTL of exactly a sixth of the CA's lifetime", async () => {
    const value = await construct(() => {
      const installation = new SpireInstallation("spire", { trustDomain, caTtl: "24h" });
      return new SpireEntry("web", {
        installation,
        spiffeId: `spiffe://${trustDomain}/web`,
        parentId: agents,
        selectors: ["k8s:ns:web", "k8s:sa:web"],
        x509SvidTtl: "4h",
      });
    });
    assert.ok(value.value instanceof SpireEntry);
  });

  it("warns at preview when a workload entry has no k8s:sa selector (labels alone are settable by anyone)", async () => {
    const { warnings } = await construct(() => {
      const installation = new SpireInstallation("spire", { trustDomain });
      new SpireEntry("labels-only", {
        installation,
        spiffeId: `spiffe://${trustDomain}/web`,
        parentId: installation.nodeAlias.spiffeId,
        selectors: ["k8s:ns:web", "k8s:pod-label:app:web", "k8s:container-name:envoy"],
      });
      new SpireEntry("with-account", {
        installation,
        spiffeId: `spiffe://${trustDomain}/api`,
        parentId: installation.nodeAlias.spiffeId,
        selectors: ["k8s:ns:api", "k8s:sa:api"],
      });
      new SpireEntry("agents", { installation, ...installation.nodeAlias, node: true });
    });
    assert.deepEqual(warnings, [
      "SpireEntry labels-only: spiffe://example.org/web has no k8s:sa selector, so any pod of its namespace with " +
        "the same labels and container name gets this identity; select the workload's own ServiceAccount",
    ]);
  });

  it("takes the agents' node alias from the installation: no ns/spire/sa/spire-agent literal needed", async () => {
    const { value } = await construct(
      () => new SpireInstallation("spire", { trustDomain, namespace: "identity" }),
    );
    const installation = value as SpireInstallation;
    assert.deepEqual(installation.nodeAlias, {
      spiffeId: "spiffe://example.org/ns/identity/sa/spire-agent",
      selectors: [
        "k8s_psat:cluster:k8s-cluster",
        "k8s_psat:agent_ns:identity",
        "k8s_psat:agent_sa:spire-agent",
      ],
    });
  });
});
