/** The App Mesh controller (a render target since App Mesh was discontinued): SDS on, pointed at the agent socket. */
import assert from "node:assert/strict";
import { irsaTrustPolicy } from "../../stack/irsa";
import { appMesh, renderStack } from "../support/render";

describe("App Mesh controller", () => {
  it("is a Helm release in appmesh-system with sds.enabled and the agent socket", async () => {
    const r = await renderStack("dev", appMesh);
    const release = r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release");
    const inputs = release?.inputs as { namespace: string; chart: string; values: Record<string, unknown> };
    assert.equal(inputs.namespace, "appmesh-system");
    assert.equal(inputs.chart, "eks/appmesh-controller");
    assert.deepEqual(inputs.values.sds, { enabled: true, udsPath: "/run/spire/sockets/agent.sock" });
  });

  it("gets no AWS role: cluster=eks refuses dataPlane=appmesh, so no stack gives the controller credentials", async () => {
    const r = await renderStack("dev", appMesh);
    const release = r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release");
    assert.ok(release, "the controller release");
    const values = (release.inputs as { values: { serviceAccount: Record<string, unknown> } }).values;
    assert.deepEqual(values.serviceAccount, { create: true, name: "appmesh-controller" });
    assert.ok(!r.resources.some((x) => x.type.startsWith("aws:")), "no AWS resources off EKS");
  });

  it("the trust policy pins the issuer's sub to appmesh-system/appmesh-controller and aud to STS", () => {
    const policy = JSON.parse(
      irsaTrustPolicy(
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC",
        "https://oidc.eks.us-west-2.amazonaws.com/id/ABC",
        "appmesh-system",
        "appmesh-controller",
      ),
    );
    const [statement] = policy.Statement;
    assert.equal(statement.Action, "sts:AssumeRoleWithWebIdentity");
    assert.deepEqual(statement.Condition.StringEquals, {
      "oidc.eks.us-west-2.amazonaws.com/id/ABC:sub":
        "system:serviceaccount:appmesh-system:appmesh-controller",
      "oidc.eks.us-west-2.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
    });
  });
});
