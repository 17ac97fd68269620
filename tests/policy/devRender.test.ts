/**
 * The resource policies on every resource of the dev stack as the offline render registers it, on both data
 * planes: the only finding is front's plaintext ingress (advisory in dev), and the walkthrough's pack config
 * (policy/walkthrough.json) clears it. Library changes that trip a rule show up here before the real run.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { isResourcePolicy, MTLS_STRICT, policies } from "../../policy/policies";
import { type PolicyConfig, runResourcePolicy, testResource } from "../../policy/testing";
import { appMesh, mountedConfigMap, renderStack } from "../support/render";

const walkthrough: Record<string, PolicyConfig> = JSON.parse(
  fs.readFileSync(path.resolve(__dirname, "../../policy/walkthrough.json"), "utf8"),
);
const resourcePolicies = policies.filter(isResourcePolicy);

async function findings(overrides: Record<string, string>, config: Record<string, PolicyConfig> = {}) {
  const render = await renderStack("dev", overrides);
  const found: string[] = [];
  const byUrn = new Map(render.resources.map((r) => [r.urn, r]));
  for (const r of render.resources.filter((x) => x.custom)) {
    // The owning component, as the engine passes it: host-access-agent-only checks the agent's owner.
    const owner = r.parent ? byUrn.get(r.parent) : undefined;
    const parent = owner ? testResource(owner.type, owner.name, owner.inputs) : undefined;
    for (const policy of resourcePolicies) {
      const resource = testResource(r.type, r.name, r.inputs, { parent });
      for (const v of await runResourcePolicy(policy, resource, config[policy.name])) {
        found.push(`[${v.level}] ${v.policy} ${r.name}: ${v.message.split("\n")[1]}`);
      }
    }
  }
  return found;
}

describe("spire-mesh policy pack on the dev stack's render", () => {
  it("envoy data plane: only front's plaintext ingress, at advisory", async () => {
    // Named by its content hash.
    const frontConfigMap = mountedConfigMap(
      await renderStack("dev"),
      "Deployment",
      "front",
      "howto-k8s-mtls-sds-based",
      "envoy-bootstrap",
    ).metadata.name;
    assert.deepEqual(await findings({}), [
      `[advisory] ${MTLS_STRICT} colorapp-front-envoy-bootstrap: ConfigMap howto-k8s-mtls-sds-based/${frontConfigMap}: ` +
        "Envoy node front (data.bootstrap.json), listener lds_ingress_0.0.0.0_15000 = plaintext (no TLS transport " +
        "socket): meshed listeners must be STRICT mTLS",
    ]);
    assert.deepEqual(await findings({}, walkthrough), []);
  });

  it("gateway=true: the gateway's plaintext listener is an edge like front's, which the walkthrough's config clears; STRICT with gatewayCallers passes", async () => {
    const gateway = { gateway: "true" };
    const edges = (await findings(gateway)).map((f) => f.split(":")[0]);
    assert.deepEqual(edges, [
      `[advisory] ${MTLS_STRICT} colorapp-gateway-envoy-bootstrap`,
      `[advisory] ${MTLS_STRICT} colorapp-front-envoy-bootstrap`,
    ]);
    assert.deepEqual(await findings(gateway, walkthrough), []);
    const strict = { ...gateway, gatewayCallers: "spiffe://howto-k8s-mtls-sds-based.aws/front" };
    assert.deepEqual(
      (await findings(strict)).map((f) => f.split(":")[0]),
      [`[advisory] ${MTLS_STRICT} colorapp-front-envoy-bootstrap`],
    );
  });

  it("appmesh data plane: only front's VirtualNode listener without TLS, at advisory", async () => {
    assert.deepEqual(await findings(appMesh), [
      `[advisory] ${MTLS_STRICT} colorapp-front-virtual-node: VirtualNode howto-k8s-mtls-sds-based/front: ` +
        "spec.listeners[0].tls = (missing, plaintext): meshed listeners must be STRICT mTLS",
    ]);
    assert.deepEqual(await findings(appMesh, walkthrough), []);
  });
});
