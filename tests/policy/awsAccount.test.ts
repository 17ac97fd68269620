/**
 * The AWS-account rules (issue 27), advisory by default: imds-hop-limit, eks-standard-support,
 * aws-resources-tagged. Each passes what the eks stack renders (tests/stack/eksAccount.test.ts) and reports here
 * what a careless stack would create.
 */
import assert from "node:assert/strict";
import { AWS_TAGGED, EKS_STANDARD_SUPPORT, IMDS_HOP_LIMIT } from "../../policy/policies";
import { awsTaggedPolicy } from "../../policy/rules/awsTagged";
import { eksStandardSupportPolicy, eksSupportFindings } from "../../policy/rules/eksStandardSupport";
import { imdsHopLimitPolicy } from "../../policy/rules/imdsHopLimit";
import { runResourcePolicy, testResource, UNKNOWN } from "../../policy/testing";

const shown = (violations: { level: string; message: string }[]) =>
  violations.map((v) => `[${v.level}] ${v.message.split("\n")[1]}`);

describe(`policy ${IMDS_HOP_LIMIT}`, () => {
  const template = (metadataOptions?: object) =>
    testResource(
      "aws:ec2/launchTemplate:LaunchTemplate",
      "nodes",
      metadataOptions ? { metadataOptions } : {},
    );

  it("passes IMDSv2 with one hop; reports two hops, optional tokens and missing options at advisory", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        imdsHopLimitPolicy,
        template({ httpTokens: "required", httpPutResponseHopLimit: 1 }),
      ),
      [],
    );
    assert.deepEqual(
      shown(
        await runResourcePolicy(
          imdsHopLimitPolicy,
          template({ httpTokens: "optional", httpPutResponseHopLimit: 2 }),
        ),
      ),
      [
        '[advisory] LaunchTemplate nodes: metadataOptions.httpTokens = "optional": must be "required" (IMDSv2)',
        "[advisory] LaunchTemplate nodes: metadataOptions.httpPutResponseHopLimit = 2: must be at most 1, or pods reach IMDS",
      ],
    );
    assert.deepEqual(shown(await runResourcePolicy(imdsHopLimitPolicy, template())), [
      "[advisory] LaunchTemplate nodes: metadataOptions missing: the AMI's default applies (IMDSv1 or two hops)",
    ]);
  });

  it("maxHopLimit 2 admits two hops; unknown values and other types are skipped", async () => {
    const two = template({ httpTokens: "required", httpPutResponseHopLimit: 2 });
    assert.deepEqual(await runResourcePolicy(imdsHopLimitPolicy, two, { maxHopLimit: 2 }), []);
    const preview = template({ httpTokens: UNKNOWN, httpPutResponseHopLimit: 1 });
    assert.deepEqual(await runResourcePolicy(imdsHopLimitPolicy, preview), []);
    const vpc = testResource("aws:ec2/vpc:Vpc", "v", {});
    assert.deepEqual(await runResourcePolicy(imdsHopLimitPolicy, vpc), []);
  });
});

describe(`policy ${EKS_STANDARD_SUPPORT}`, () => {
  it("reports a version past standard support and a missing or EXTENDED upgrade policy, on the day given", () => {
    assert.deepEqual(
      eksSupportFindings(
        { version: "1.35", upgradePolicy: { supportType: "STANDARD" } },
        "c",
        false,
        "2026-12-07",
      ),
      [],
    );
    assert.deepEqual(
      eksSupportFindings({ version: "1.34" }, "c", false, "2026-12-07").map((f) => f.message),
      [
        'EKS cluster c: upgradePolicy.supportType = (missing): set "STANDARD" (AWS\'s default is EXTENDED)',
        "EKS cluster c: version 1.34 left standard support on 2026-12-02",
      ],
    );
    assert.deepEqual(
      eksSupportFindings(
        { version: "1.34", upgradePolicy: { supportType: "STANDARD" } },
        "c",
        false,
        "2026-12-01",
      ),
      [],
      "the day before its end, 1.34 is still standard",
    );
    assert.deepEqual(
      eksSupportFindings({ version: "1.33" }, "c", true, "2026-12-07"),
      [],
      "allowExtendedSupport",
    );
  });

  it("runs on eks:index:Cluster at advisory; an unknown version is left alone", async () => {
    const cluster = testResource("eks:index:Cluster", "cluster", {
      version: "1.33",
      upgradePolicy: { supportType: "EXTENDED" },
    });
    const violations = await runResourcePolicy(eksStandardSupportPolicy, cluster);
    assert.equal(violations.length, 2, JSON.stringify(violations));
    assert.ok(violations.every((v) => v.level === "advisory"));
    const unknown = testResource("aws:eks/cluster:Cluster", "c", {
      version: UNKNOWN,
      upgradePolicy: { supportType: "STANDARD" },
    });
    assert.deepEqual(await runResourcePolicy(eksStandardSupportPolicy, unknown), []);
  });
});

describe(`policy ${AWS_TAGGED}`, () => {
  it("reports an untagged resource of a listed type; requiredKeys names the missing keys", async () => {
    const bare = testResource("aws:ec2/natGateway:NatGateway", "nat", { subnetId: "s" });
    assert.deepEqual(shown(await runResourcePolicy(awsTaggedPolicy, bare)), [
      "[advisory] NatGateway nat: no tags",
    ]);
    const tagged = testResource("aws:ec2/natGateway:NatGateway", "nat", { tags: { team: "platform" } });
    assert.deepEqual(await runResourcePolicy(awsTaggedPolicy, tagged), []);
    assert.deepEqual(
      shown(await runResourcePolicy(awsTaggedPolicy, tagged, { requiredKeys: ["team", "cost-center"] })),
      ["[advisory] NatGateway nat: missing tags cost-center"],
    );
    const unlisted = testResource("aws:ec2/routeTableAssociation:RouteTableAssociation", "a", {});
    assert.deepEqual(await runResourcePolicy(awsTaggedPolicy, unlisted), []);
  });
});
