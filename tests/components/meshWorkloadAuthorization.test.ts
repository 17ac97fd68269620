/**
 * MeshWorkload `authorization`: rules name callers as `callers` does (a workload stands for its SPIFFE ID), the
 * rendered bootstrap's RBAC names them exactly, and a bad rule fails the component before anything is
 * registered.
 */
import assert from "node:assert/strict";
import { MeshWorkload, type MeshWorkloadArgs } from "../../components/meshWorkload";
import { DataPlane } from "../../components/mtlsVirtualNode";
import type { SpireInstallation } from "../../components/spireInstallation";
import { ValidationError } from "../../core/validation";
import { AUTHZ_NOT_CALLER_RULE } from "../../mesh/authorization";
import { APPMESH_AUTHZ_RULE } from "../../mesh/meshNode";
import { isKubernetesObject, kubernetesObject } from "../../render/write";
import { construct, outsideInstallation, walkthroughInstallation } from "../support/mocks";

const TD = "howto-k8s-mtls-sds-based.aws";
const PARTNER = `spiffe://${TD}/partner`;
const app = { name: "app", image: "node:20-alpine", command: ["node", "/app/server.js"] };

/** front, then blue called by front and by a bare SPIFFE ID, with `authorization` over those callers. */
async function blueWith(
  authorization: (front: MeshWorkload) => MeshWorkloadArgs["authorization"],
  extra = {},
) {
  let frontIdentity = "";
  const recording = await construct(() => {
    const installation: SpireInstallation = walkthroughInstallation();
    const front = new MeshWorkload("front", { namespace: "shop", installation, containers: [app] });
    frontIdentity = front.identityValue;
    return new MeshWorkload("bad-blue", {
      namespace: "shop",
      installation,
      containers: [app],
      callers: [front, PARTNER],
      authorization: authorization(front),
      ...extra,
    });
  });
  return { ...recording, frontIdentity };
}

describe("MeshWorkload authorization", () => {
  it("a workload in a rule stands for its SPIFFE ID in the rendered RBAC principals", async () => {
    const { value, resources, frontIdentity } = await blueWith((front) => ({
      rules: [
        { callers: [front], methods: ["GET"] },
        { callers: [PARTNER], path: { exact: "/health" } },
      ],
    }));
    assert.ok(value instanceof MeshWorkload, String(value));
    const bootstrap = outsideInstallation(resources)
      .filter(isKubernetesObject)
      .map(
        (r) =>
          kubernetesObject(r) as { kind: string; data?: Record<string, string>; metadata: { name: string } },
      )
      .filter((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("bad-blue-envoy"))
      .map((o) => JSON.parse(o.data?.["bootstrap.json"] ?? "{}"));
    assert.equal(bootstrap.length, 1);
    const rbac =
      bootstrap[0].static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0];
    assert.equal(rbac.name, "envoy.filters.http.rbac");
    const principals = Object.values(rbac.typed_config.rules.policies).map(
      (p) =>
        (p as { principals: { authenticated: { principal_name: { exact: string } } }[] }).principals[0]
          .authenticated.principal_name.exact,
    );
    assert.deepEqual(principals, [frontIdentity, PARTNER]);
    assert.match(frontIdentity, /^spiffe:\/\/howto-k8s-mtls-sds-based\.aws\/ns\/shop\/sa\/front$/);
  });

  it("refuses a rule naming a workload that is not among its callers, before anything is registered", async () => {
    const stranger = `spiffe://${TD}/ns/shop/sa/stranger`;
    const { value, resources } = await blueWith(() => ({ rules: [{ callers: [stranger] }] }));
    assert.ok(value instanceof ValidationError, String(value));
    assert.deepEqual(
      value.problems.map((p) => [p.field, p.value, p.rule]),
      [["authorization.rules[0].callers[0]", stranger, AUTHZ_NOT_CALLER_RULE]],
    );
    assert.deepEqual(
      outsideInstallation(resources).filter((r) => r.name.startsWith("bad")),
      [],
      "nothing of the bad workload may be registered",
    );
  });

  it("refuses authorization on the appmesh data plane", async () => {
    const { value } = await blueWith((front) => ({ rules: [{ callers: [front] }] }), {
      dataPlane: DataPlane.AppMesh,
    });
    assert.ok(value instanceof ValidationError, String(value));
    assert.deepEqual(
      value.problems.map((p) => [p.field, p.rule]),
      [["authorization", APPMESH_AUTHZ_RULE]],
    );
  });
});
