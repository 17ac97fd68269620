/**
 * The eks stack as a real AWS account takes it (issue 27): each finding of the production review pinned on the
 * mocked render. AWS is only ever mocked here; these tests prove what the program asks AWS for, not what AWS does.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { ValidationError } from "../../core/validation";
import { AWS_TAGGED_DEFAULTS, awsTaggedPolicy } from "../../policy/rules/awsTagged";
import { eksStandardSupportPolicy } from "../../policy/rules/eksStandardSupport";
import { imdsHopLimitPolicy } from "../../policy/rules/imdsHopLimit";
import { runResourcePolicy, testResource } from "../../policy/testing";
import type { RecordedResource, RenderResult } from "../../render/runtime";
import { STACK_TAG } from "../../stack/awsTags";
import { declaredConfig } from "../../stack/config";
import { NODE_METADATA_OPTIONS } from "../../stack/eks";
import { eksSupportStatus, utcDay } from "../../stack/eksVersions";
import { appMesh, mountedConfigMap, renderStack } from "../support/render";
import { testCaBundle } from "../support/testCa";

const REPO = path.resolve(__dirname, "../..");
const ARN =
  "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555";
const DEPLOY = "arn:aws:iam::123456789012:role/spire-mesh-deploy";
const ADMIN_A = "arn:aws:iam::123456789012:role/platform-admin";
const ADMIN_B = "arn:aws:iam::123456789012:role/oncall";
const PREVIEW = "arn:aws:iam::123456789012:role/spire-mesh-preview";

// biome-ignore lint/suspicious/noExplicitAny: recorded inputs are untyped JSON.
type Inputs = Record<string, any>;

const ofType = (r: RenderResult, type: string): RecordedResource[] =>
  r.resources.filter((x) => x.type === type);
function one(r: RenderResult, type: string, name?: string): Inputs {
  const found = ofType(r, type).filter((x) => name === undefined || x.name === name);
  assert.equal(found.length, 1, `one ${type} ${name ?? ""}, found ${found.length}`);
  return found[0].inputs as Inputs;
}
const clusterInputs = (r: RenderResult) => one(r, "eks:index:Cluster");

async function eksConfigError(overrides: Record<string, string>): Promise<ValidationError> {
  try {
    await renderStack("eks", overrides);
  } catch (e) {
    const cause = (e as Error & { cause?: unknown }).cause ?? e;
    if (cause instanceof ValidationError) return cause;
    throw e;
  }
  assert.fail("the render should have failed");
}
const rulesOf = (error: ValidationError, field: string) =>
  error.problems
    .filter((p) => p.field === field)
    .map((p) => p.rule)
    .join("; ");

describe("eks stack as a real AWS account takes it (issue 27)", () => {
  describe("finding 1: extended support from day one", () => {
    it("the default eksVersion is in EKS standard support today, and the cluster's upgrade policy is STANDARD", async () => {
      // Fails once the calendar moves past the default: the signal to bump it (stack/eksVersions.ts).
      const declared = String(declaredConfig().eksVersion.default);
      assert.equal(eksSupportStatus(declared, utcDay()), "standard", `default ${declared} on ${utcDay()}`);
      const cluster = clusterInputs(await renderStack("eks"));
      assert.equal(cluster.version, declared);
      assert.deepEqual(cluster.upgradePolicy, { supportType: "STANDARD" });
    });

    it("the calendar's boundaries: 1.34 leaves standard support on 2026-12-02, 1.33 on 2026-07-29", () => {
      assert.equal(eksSupportStatus("1.34", "2026-12-01"), "standard");
      assert.equal(eksSupportStatus("1.34", "2026-12-02"), "extended");
      assert.equal(eksSupportStatus("1.33", "2026-07-28"), "standard");
      assert.equal(eksSupportStatus("1.33", "2026-07-29"), "extended");
      assert.equal(eksSupportStatus("1.31", "2026-11-26"), "ended");
      assert.equal(eksSupportStatus("1.99", "2026-12-07"), "unknown");
    });

    it("a version out of standard support is refused naming eksVersion, unless eksAllowExtendedSupport (then EXTENDED)", async () => {
      const old = { eksVersion: "1.33", eksNodeReleaseVersion: "1.33.5-20260801" };
      const error = await eksConfigError(old);
      assert.deepEqual(
        error.problems.map((p) => p.field),
        ["eksVersion"],
        error.message,
      );
      assert.match(rulesOf(error, "eksVersion"), /left EKS standard support on 2026-07-29/);
      assert.match(rulesOf(error, "eksVersion"), /eksAllowExtendedSupport=true/);
      const unknown = await eksConfigError({ eksVersion: "1.99", eksNodeReleaseVersion: "1.99.0-20270101" });
      assert.match(rulesOf(unknown, "eksVersion"), /not an EKS version .*\(stack\/eksVersions\.ts\)/);
      const accepted = clusterInputs(await renderStack("eks", { ...old, eksAllowExtendedSupport: "true" }));
      assert.equal(accepted.version, "1.33");
      assert.deepEqual(accepted.upgradePolicy, { supportType: "EXTENDED" });
    });
  });

  describe("finding 2: dataPlane=appmesh on eks cannot work any more", () => {
    it("is refused with the discontinuation date and the envoy data plane as the way out", async () => {
      const error = await eksConfigError(appMesh);
      const rule = rulesOf(error, "dataPlane");
      assert.match(rule, /discontinued the App Mesh API on 2026-09-30/);
      assert.match(rule, /Use dataPlane=envoy/);
    });

    it("the eks stack creates no App Mesh controller role; the appmesh plane still renders off EKS", async () => {
      const eks = await renderStack("eks");
      assert.ok(!eks.resources.some((x) => x.name.startsWith("appmesh")), "nothing App Mesh on eks");
      assert.deepEqual(
        ofType(eks, "aws:iam/role:Role")
          .map((x) => x.name)
          .sort(),
        ["ebs-csi-driver", "eks-nodes"],
      );
      const dev = await renderStack("dev", appMesh);
      const release = one(dev, "kubernetes:helm.sh/v3:Release");
      assert.deepEqual(release.values.serviceAccount, { create: true, name: "appmesh-controller" });
    });
  });

  describe("finding 3: no VPC of its own", () => {
    it("the cluster runs in the stack's VPC: nodes in private subnets without public addresses, endpoint ranges from config", async () => {
      const r = await renderStack("eks");
      const cluster = clusterInputs(r);
      const vpc = ofType(r, "aws:ec2/vpc:Vpc");
      assert.equal(vpc.length, 1);
      assert.equal(cluster.vpcId, `${vpc[0].name}-id`);
      const subnets = ofType(r, "aws:ec2/subnet:Subnet");
      const idsOf = (role: string) =>
        subnets
          .filter((s) => (s.inputs as Inputs).tags[`kubernetes.io/role/${role}`] === "1")
          .map((s) => `${s.name}-id`);
      assert.deepEqual(cluster.privateSubnetIds, idsOf("internal-elb"));
      assert.deepEqual(cluster.publicSubnetIds, idsOf("elb"));
      assert.equal(cluster.privateSubnetIds.length, 2, "eksZoneCount zones");
      assert.ok(subnets.every((s) => (s.inputs as Inputs).mapPublicIpOnLaunch === false));
      assert.equal(cluster.nodeAssociatePublicIpAddress, false);
      assert.deepEqual(cluster.publicAccessCidrs, ["0.0.0.0/0"], "Pulumi.eks.yaml's value");
      assert.equal(cluster.endpointPrivateAccess, true);
      const groups = ofType(r, "aws:eks/nodeGroup:NodeGroup").map((g) => (g.inputs as Inputs).subnetIds);
      assert.deepEqual(
        groups.flat().sort(),
        [...cluster.privateSubnetIds].sort(),
        "node groups: private subnets only",
      );
      const narrowed = clusterInputs(
        await renderStack("eks", { eksPublicAccessCidrs: "198.51.100.0/24, 203.0.113.7/32" }),
      );
      assert.deepEqual(narrowed.publicAccessCidrs, ["198.51.100.0/24", "203.0.113.7/32"]);
    });

    it("the API endpoint ranges are required and checked", async () => {
      const missing = await eksConfigError({ eksPublicAccessCidrs: "" });
      assert.match(rulesOf(missing, "eksPublicAccessCidrs"), /is required on cluster=eks/);
      const bad = await eksConfigError({ eksPublicAccessCidrs: "10.0.0.0/8,office" });
      assert.deepEqual(
        bad.problems.map((p) => [p.field, p.value]),
        [["eksPublicAccessCidrs", "office"]],
      );
    });

    it("one NAT gateway by default; perZone gives each zone's private subnets their own", async () => {
      const single = await renderStack("eks");
      assert.equal(ofType(single, "aws:ec2/natGateway:NatGateway").length, 1);
      const r = await renderStack("eks", { eksZoneCount: "3", eksNatGateway: "perZone" });
      const nats = ofType(r, "aws:ec2/natGateway:NatGateway");
      assert.equal(nats.length, 3);
      for (let zone = 0; zone < 3; zone++) {
        const routes = one(r, "aws:ec2/routeTable:RouteTable", `eks-private-${zone}`).routes;
        assert.deepEqual(routes, [{ cidrBlock: "0.0.0.0/0", natGatewayId: `eks-nat-${zone}-id` }]);
        const nat = one(r, "aws:ec2/natGateway:NatGateway", `eks-nat-${zone}`);
        assert.equal(nat.subnetId, `eks-public-${zone}-id`, "in its own zone's public subnet");
      }
    });

    it("RDS lands in the private subnets", async () => {
      const r = await renderStack("eks", {
        spireDatastore: "rds",
        spireDatastoreCaBundle: testCaBundle(),
        spireReplicas: "3",
        spireUpstreamAuthority: "awsPca",
        spireAwsPcaArn: ARN,
        spireAwsPcaRegion: "us-west-2",
        spireTelemetry: "true",
      });
      const group = one(r, "aws:rds/subnetGroup:SubnetGroup");
      assert.deepEqual(group.subnetIds, clusterInputs(r).privateSubnetIds);
      assert.deepEqual(group.subnetIds, ["eks-private-0-id", "eks-private-1-id"]);
    });
  });

  describe("finding 4: pods can take the node's role", () => {
    it("every node group launches from a template requiring IMDSv2 with a hop limit of 1", async () => {
      const r = await renderStack("eks");
      const templates = ofType(r, "aws:ec2/launchTemplate:LaunchTemplate");
      assert.equal(templates.length, 1);
      assert.deepEqual(templates[0].inputs.metadataOptions, {
        httpEndpoint: "enabled",
        httpTokens: "required",
        httpPutResponseHopLimit: 1,
      });
      assert.deepEqual(NODE_METADATA_OPTIONS.httpPutResponseHopLimit, 1);
      const groups = ofType(r, "aws:eks/nodeGroup:NodeGroup");
      assert.ok(groups.length >= 2);
      for (const g of groups) {
        assert.equal((g.inputs as Inputs).launchTemplate.id, `${templates[0].name}-id`, g.name);
      }
      // The pack's rule admits what the stack renders.
      const rule = await runResourcePolicy(
        imdsHopLimitPolicy,
        testResource(templates[0].type, templates[0].name, templates[0].inputs),
      );
      assert.deepEqual(rule, []);
    });
  });

  describe("finding 5: NetworkPolicies are not enforced on EKS", () => {
    it("the VPC CNI's network policy agent is turned on", async () => {
      const cluster = clusterInputs(await renderStack("eks"));
      assert.equal(cluster.vpcCniOptions.enableNetworkPolicy, true);
      assert.notEqual(cluster.useDefaultVpcCni, true, "the managed VPC CNI add-on carries the option");
    });
  });

  describe("finding 6: nodes churn and lose the server's volume", () => {
    it("one fixed-size node group per zone on a pinned AL2023 AMI release", async () => {
      const r = await renderStack("eks", { eksZoneCount: "3", eksNodesPerZone: "2" });
      const groups = ofType(r, "aws:eks/nodeGroup:NodeGroup").map((g) => g.inputs as Inputs);
      assert.equal(groups.length, 3);
      const zonesCovered = groups.flatMap((g) => g.subnetIds);
      assert.deepEqual(
        zonesCovered,
        clusterInputs(r).privateSubnetIds,
        "one group per zone's private subnet",
      );
      for (const g of groups) {
        assert.deepEqual(g.scalingConfig, { minSize: 2, desiredSize: 2, maxSize: 2 });
        assert.equal(g.releaseVersion, "1.35.4-20260512");
        assert.equal(g.amiType, "AL2023_x86_64_STANDARD");
        assert.equal(g.version, "1.35");
      }
      assert.equal(clusterInputs(r).skipDefaultNodeGroup, true, "no unpinned default node group");
    });

    it("eksMaxNodes is gone (no autoscaler); an AMI release of another Kubernetes version is refused", async () => {
      for (const key of ["eksMinNodes", "eksDesiredNodes", "eksMaxNodes"])
        assert.ok(!(key in declaredConfig()), key);
      const stale = await eksConfigError({ eksMaxNodes: "5" });
      assert.match(rulesOf(stale, "eksMaxNodes"), /is not a config key/);
      const mismatch = await eksConfigError({ eksNodeReleaseVersion: "1.34.7-20260512" });
      assert.match(rulesOf(mismatch, "eksNodeReleaseVersion"), /must be an AMI release of Kubernetes 1\.35/);
    });
  });

  describe("finding 10: only the creator can reach the cluster", () => {
    it("authenticationMode API with access entries: deploy and admin roles cluster-admin, preview read-only", async () => {
      const r = await renderStack("eks", {
        eksDeployRoleArn: DEPLOY,
        eksAdminRoleArns: `${ADMIN_A}, ${ADMIN_B}`,
        eksPreviewRoleArns: PREVIEW,
      });
      const cluster = clusterInputs(r);
      assert.equal(cluster.authenticationMode, "API");
      const granted = Object.values(cluster.accessEntries as Record<string, Inputs>).map((e) => {
        const policies = Object.values(e.accessPolicies as Record<string, Inputs>);
        assert.equal(policies.length, 1);
        assert.deepEqual(policies[0].accessScope, { type: "cluster" });
        return [e.principalArn, policies[0].policyArn.replace(/^.*\//, ""), e.type];
      });
      assert.deepEqual(granted, [
        [DEPLOY, "AmazonEKSClusterAdminPolicy", "STANDARD"],
        [ADMIN_A, "AmazonEKSClusterAdminPolicy", "STANDARD"],
        [ADMIN_B, "AmazonEKSClusterAdminPolicy", "STANDARD"],
        [PREVIEW, "AmazonEKSViewPolicy", "STANDARD"],
      ]);
      assert.match(
        (Object.values(cluster.accessEntries)[0] as Inputs).accessPolicies.admin.policyArn,
        /^arn:aws:eks::aws:cluster-access-policy\//,
      );
    });

    it("a malformed or repeated role is refused naming its key", async () => {
      const error = await eksConfigError({
        eksAdminRoleArns: `${ADMIN_A},platform-admin`,
        eksPreviewRoleArns: ADMIN_A,
      });
      assert.deepEqual(
        error.problems.map((p) => [p.field, p.value]),
        [
          ["eksAdminRoleArns", "platform-admin"],
          ["eksPreviewRoleArns", ADMIN_A],
        ],
      );
      assert.match(rulesOf(error, "eksPreviewRoleArns"), /also in eksAdminRoleArns/);
    });

    it("the deploy workflow's AWS session outlasts a first up (EKS and a Multi-AZ RDS)", () => {
      const workflow = parse(fs.readFileSync(path.join(REPO, ".github/workflows/deploy.yml"), "utf8"));
      const steps = Object.values(workflow.jobs as Record<string, { steps: Inputs[] }>).flatMap(
        (j) => j.steps,
      );
      const aws = steps.find((s) => String(s.uses).startsWith("aws-actions/configure-aws-credentials"));
      assert.ok(Number(aws?.with?.["role-duration-seconds"]) >= 7200, JSON.stringify(aws?.with));
    });
  });

  describe("finding 11: EBS CSI add-on version and the arn:aws partition", () => {
    it("the add-on takes the default version for the cluster's Kubernetes version", async () => {
      const addon = one(await renderStack("eks"), "aws:eks/addon:Addon");
      assert.match(
        addon.addonVersion,
        /^<placeholder: default aws-ebs-csi-driver version for Kubernetes 1\.35,/,
      );
    });

    it("every ARN is built from the partition: none says arn:aws: in GovCloud, the EC2 principal follows China's suffix", async () => {
      const gov = await renderStack("eks", { "aws:region": "us-gov-west-1" });
      const text = JSON.stringify(gov.resources.map((x) => x.inputs));
      const arns = text.match(/arn:aws[a-z-]*:(iam|eks)::aws:[^"\\]+/g) ?? [];
      assert.ok(arns.length >= 4, `ARNs built: ${arns.join(" ")}`);
      assert.deepEqual(
        arns.filter((a) => !a.startsWith("arn:aws-us-gov:")),
        [],
      );
      const china = await renderStack("eks", { "aws:region": "cn-north-1" });
      const trust = JSON.parse(one(china, "aws:iam/role:Role", "eks-nodes").assumeRolePolicy);
      assert.equal(trust.Statement[0].Principal.Service, "ec2.amazonaws.com.cn");
    });
  });

  describe("finding 13: the EKS cluster's name is auto-generated", () => {
    it("the cluster is named clusterName, the name k8s_psat attests with", async () => {
      const r = await renderStack("eks");
      assert.equal(clusterInputs(r).name, "eks-howto");
      const serverConf = mountedConfigMap(r, "StatefulSet", "spire-server", "spire", "spire-config").data[
        "server.conf"
      ] as string;
      assert.match(serverConf, /clusters = \{\n\s+"eks-howto" = \{/);
      const bad = await eksConfigError({ clusterName: "eks howto" });
      assert.match(rulesOf(bad, "clusterName"), /names the EKS cluster/);
    });
  });

  describe("finding 14: kubelet serving certificates on AL2023", () => {
    const agentConf = (r: RenderResult) =>
      mountedConfigMap(r, "DaemonSet", "spire-agent", "spire", "spire-config").data["agent.conf"] as string;
    it("the agents verify the kubelet on eks by default, skip elsewhere, and spireSkipKubeletVerification decides", async () => {
      assert.match(agentConf(await renderStack("eks")), /skip_kubelet_verification = false/);
      assert.match(agentConf(await renderStack("dev")), /skip_kubelet_verification = true/);
      assert.match(
        agentConf(await renderStack("eks", { spireSkipKubeletVerification: "true" })),
        /skip_kubelet_verification = true/,
      );
    });
  });

  describe("finding 15: no tags anywhere", () => {
    it("every AWS resource the pack's tag rule checks carries the stack tag; instances, volumes and CSI volumes too", async () => {
      const r = await renderStack("eks");
      const checked = r.resources.filter((x) => AWS_TAGGED_DEFAULTS.types.includes(x.type));
      assert.ok(checked.length >= 14, `resources checked: ${checked.length}`);
      const config = { requiredKeys: [STACK_TAG] };
      for (const x of checked) {
        assert.deepEqual(
          await runResourcePolicy(awsTaggedPolicy, testResource(x.type, x.name, x.inputs), config),
          [],
          x.name,
        );
      }
      const template = one(r, "aws:ec2/launchTemplate:LaunchTemplate");
      assert.deepEqual(
        template.tagSpecifications.map((t: Inputs) => [t.resourceType, t.tags[STACK_TAG]]),
        [
          ["instance", "spire-mesh/eks"],
          ["volume", "spire-mesh/eks"],
          ["network-interface", "spire-mesh/eks"],
        ],
      );
      const addon = one(r, "aws:eks/addon:Addon");
      assert.equal(
        JSON.parse(addon.configurationValues).controller.extraVolumeTags[STACK_TAG],
        "spire-mesh/eks",
      );
      const stackFile = parse(fs.readFileSync(path.join(REPO, "Pulumi.eks.yaml"), "utf8"));
      assert.equal(stackFile.config["aws:defaultTags"].tags[STACK_TAG], "spire-mesh/eks");
      // The rule does fire on an untagged resource.
      const untagged = testResource("aws:ec2/vpc:Vpc", "bare", { cidrBlock: "10.1.0.0/16" });
      assert.equal((await runResourcePolicy(awsTaggedPolicy, untagged, config)).length, 1);
      // And the support rule passes the rendered cluster.
      const cluster = r.resources.find((x) => x.type === "eks:index:Cluster");
      assert.ok(cluster);
      assert.deepEqual(
        await runResourcePolicy(
          eksStandardSupportPolicy,
          testResource(cluster.type, cluster.name, cluster.inputs),
        ),
        [],
      );
    });
  });
});
