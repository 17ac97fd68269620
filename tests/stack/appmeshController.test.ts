/** The App Mesh controller: SDS on, pointed at the agent socket; on EKS its AWS access is scoped by IRSA. */
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

  it("on EKS gets a role only its ServiceAccount can assume, with App Mesh and Cloud Map policies", async () => {
    const r = await renderStack("eks", appMesh);
    const role = r.resources.find((x) => x.type === "aws:iam/role:Role" && x.name === "appmesh-controller");
    const release = r.resources.find((x) => x.type === "kubernetes:helm.sh/v3:Release");
    assert.ok(release, "the controller release");
    const values = (release.inputs as { values: { serviceAccount: { annotations: Record<string, string> } } })
      .values;
    assert.match(
      values.serviceAccount.annotations["eks.amazonaws.com/role-arn"],
      /^<placeholder: ARN of aws:iam\/role:Role/,
    );
    const policies = r.resources
      .filter(
        (x) =>
          x.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && x.name.startsWith("appmesh-"),
      )
      .map((x) => (x.inputs as { policyArn: string }).policyArn)
      .sort();
    assert.deepEqual(policies, [
      "arn:aws:iam::aws:policy/AWSAppMeshFullAccess",
      "arn:aws:iam::aws:policy/AWSCloudMapFullAccess",
    ]);
    assert.ok(role, "an IAM role");
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
