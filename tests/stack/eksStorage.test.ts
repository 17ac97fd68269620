/** The eks stack can provision SPIRE's volume: the EBS CSI driver add-on with its own IRSA role, and gp3. */
import assert from "node:assert/strict";
import { EKS_STORAGE_CLASS } from "../../stack/cluster";
import { findObject, renderStack } from "../support/render";

describe("eks stack: storage for the SPIRE server", () => {
  it("installs the aws-ebs-csi-driver add-on with an IRSA role for its controller only", async () => {
    const r = await renderStack("eks");
    const addon = r.resources.find((x) => x.type === "aws:eks/addon:Addon");
    const inputs = addon?.inputs as { addonName: string; serviceAccountRoleArn: string };
    assert.equal(inputs.addonName, "aws-ebs-csi-driver");
    assert.match(inputs.serviceAccountRoleArn, /^<placeholder: ARN of aws:iam\/role:Role ebs-csi-driver/);
    const role = r.resources.find((x) => x.type === "aws:iam/role:Role" && x.name === "ebs-csi-driver");
    assert.ok(role, "the EBS CSI driver's role");
    const trust = JSON.parse((role.inputs as { assumeRolePolicy: string }).assumeRolePolicy);
    const [condition] = Object.entries(trust.Statement[0].Condition.StringEquals).filter(([k]) =>
      k.endsWith(":sub"),
    );
    assert.equal(condition[1], "system:serviceaccount:kube-system:ebs-csi-controller-sa");
    const policies = r.resources
      .filter(
        (x) => x.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment" && x.name.startsWith("ebs-"),
      )
      .map((x) => (x.inputs as { policyArn: string }).policyArn);
    assert.deepEqual(policies, ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"]);
  });

  it("SPIRE's claim uses an encrypted gp3 class of that driver, created before the installation", async () => {
    const r = await renderStack("eks");
    const sc = findObject(r, "StorageClass", EKS_STORAGE_CLASS);
    assert.equal(sc.provisioner, "ebs.csi.aws.com");
    assert.equal(sc.parameters.type, "gp3");
    assert.equal(sc.parameters.encrypted, "true");
    assert.equal(sc.volumeBindingMode, "WaitForFirstConsumer");
    assert.equal(sc.allowVolumeExpansion, true);
    const claim = findObject(r, "PersistentVolumeClaim", "spire-server-data", "spire");
    assert.equal(claim.spec.storageClassName, EKS_STORAGE_CLASS);
    const installation = r.resources.find((x) => x.type === "spire-mesh:index:SpireInstallation");
    const scResource = r.resources.find((x) => x.type === "kubernetes:storage.k8s.io/v1:StorageClass");
    assert.ok(
      installation?.dependsOn.includes(scResource?.urn as string),
      "SpireInstallation waits for the class",
    );
  });
});
