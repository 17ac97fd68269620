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
});
