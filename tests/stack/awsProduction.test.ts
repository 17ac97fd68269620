/**
 * The eks stack as a real AWS account would take it (issue 27 items 7, 8, 9, 12; issue 21 items 8, 17, 19): each
 * test names its finding and reads the mocked render, the one place AWS exists here.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { ValidationError } from "../../core/validation";
import { spireBinary } from "../../local/spireHarness";
import type { RecordedResource, RenderResult } from "../../render/runtime";
import { awsPcaSigningTemplateArn, DATASTORE_CA_FILE } from "../../spire/production";
import { spireSettings } from "../../spire/settings";
import { EKS_STORAGE_CLASS } from "../../stack/cluster";
import {
  finalSnapshotIdentifier,
  maxOpenConnsPerServer,
  RDS_TLS,
  rdsConnectionString,
  rdsMaxConnections,
} from "../../stack/database";
import { acmPcaPolicy } from "../../stack/irsa";
import { ResourceGraph } from "../support/graph";
import { findObject, kubernetesObjects, mountedConfigMap, renderStack } from "../support/render";
import { testCaBundle } from "../support/testCa";

const ARN =
  "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555";
const TEMPLATE = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1";
const eksRds = (extra: Record<string, string> = {}) =>
  renderStack("eks", {
    spireDatastore: "rds",
    spireReplicas: "3",
    spireUpstreamAuthority: "awsPca",
    spireAwsPcaArn: ARN,
    spireAwsPcaRegion: "us-west-2",
    spireDatastoreCaBundle: testCaBundle(),
    ...extra,
  });
const PINNED = (name: string) => `${name}@sha256:${"0123456789abcdef".repeat(4)}`;

const one = (r: RenderResult, type: string, name?: string): RecordedResource => {
  const found = r.resources.filter((x) => x.type === type && (name === undefined || x.name === name));
  assert.equal(found.length, 1, `one ${type} ${name ?? ""}, found ${found.length}`);
  return found[0];
};
const serverConf = (r: RenderResult) =>
  mountedConfigMap(r, "StatefulSet", "spire-server", "spire", "spire-config").data["server.conf"] as string;

async function configError(stack: string, overrides: Record<string, string>): Promise<ValidationError> {
  try {
    await renderStack(stack, overrides);
  } catch (e) {
    const cause = (e as Error & { cause?: unknown }).cause ?? e;
    if (cause instanceof ValidationError) return cause;
    throw e;
  }
  assert.fail("the render should have failed");
}

describe("eks stack on a real AWS account", () => {
  describe("27#7 AWS Private CA: IssueCertificate without a template condition", () => {
    it("allows IssueCertificate only with the subordinate-CA template SPIRE's aws_pca requests, named in server.conf too", async () => {
      const r = await eksRds();
      const policy = JSON.parse(
        (one(r, "aws:iam/rolePolicy:RolePolicy", "spire-server-pca-acmPca").inputs as { policy: string })
          .policy,
      );
      const issuing = policy.Statement.filter((st: { Action: string | string[] }) =>
        ([] as string[]).concat(st.Action).includes("acm-pca:IssueCertificate"),
      );
      assert.equal(issuing.length, 1, "exactly one statement allows IssueCertificate");
      assert.deepEqual(issuing[0].Condition, { StringEquals: { "acm-pca:TemplateArn": TEMPLATE } });
      assert.equal(issuing[0].Resource, ARN);
      // The plugin sends the template server.conf names: the condition and the request are one value.
      assert.match(
        serverConf(r),
        new RegExp(`ca_signing_template_arn = "${TEMPLATE.replace(/[/.]/g, "\\$&")}"`),
      );
      // SPIRE 1.13.3's own default (awspca defaultCASigningTemplateArn) is that template: the binary we ship holds it.
      assert.ok(
        fs.readFileSync(spireBinary("spire-server")).includes(Buffer.from(TEMPLATE)),
        "spire-server 1.13.3 carries the template ARN as its aws_pca default",
      );
    });

    it("builds the template ARN in the CA's partition (GovCloud, China)", () => {
      const gov =
        "arn:aws-us-gov:acm-pca:us-gov-west-1:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555";
      assert.equal(
        awsPcaSigningTemplateArn(gov),
        "arn:aws-us-gov:acm-pca:::template/SubordinateCACertificate_PathLen0/V1",
      );
      const condition = JSON.parse(acmPcaPolicy(gov)).Statement[1].Condition.StringEquals;
      assert.equal(condition["acm-pca:TemplateArn"], awsPcaSigningTemplateArn(gov));
    });

    it("the role ARN the server's ServiceAccount and the EBS add-on get resolves only after their policies are attached", async () => {
      const r = await eksRds();
      const graph = new ResourceGraph(r.resources);
      const account = graph.find("kubernetes:core/v1:ServiceAccount", "spire-server-account");
      assert.ok(
        graph.waitsFor(account, one(r, "aws:iam/rolePolicy:RolePolicy", "spire-server-pca-acmPca")),
        "the server's ServiceAccount waits for the ACM PCA policy",
      );
      assert.ok(
        graph.waitsFor(
          one(r, "aws:eks/addon:Addon"),
          one(r, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ebs-csi-driver-ebs"),
        ),
        "the EBS CSI add-on waits for its role's policy attachment",
      );
    });
  });

  describe("27#8 RDS final snapshot name is fixed", () => {
    it("names it for the project and stack with a random suffix, and tags it through the instance", async () => {
      const r = await eksRds();
      const inputs = one(r, "aws:rds/instance:Instance").inputs as Record<string, unknown>;
      const id = inputs.finalSnapshotIdentifier as string;
      assert.notEqual(id, "spire-db-final");
      assert.match(id, /^spire-db-final-spire-mesh-eks-placeholder-random-hex-of-spire-db-final-snapshot/);
      assert.equal(inputs.skipFinalSnapshot, false);
      assert.equal(inputs.copyTagsToSnapshot, true, "the final snapshot carries the instance's tags");
      assert.deepEqual(inputs.tags, {
        "spire-mesh:stack": "spire-mesh/eks",
        "spire-mesh:managed-by": "pulumi",
        "spire-mesh:purpose": "spire-datastore",
      });
      assert.deepEqual(one(r, "random:index/randomId:RandomId").inputs, { byteLength: 4 });
    });

    it("is a valid RDS identifier for any stack name, and differs per suffix", () => {
      const valid = /^[a-z](?!.*--)[a-z0-9-]{0,254}(?<!-)$/;
      for (const [project, stack] of [
        ["spire-mesh", "eks"],
        ["Spire_Mesh", "org.Prod--1_"],
        ["p", "x".repeat(400)],
      ]) {
        const id = finalSnapshotIdentifier(project, stack, "a1b2c3d4");
        assert.match(id, valid, id);
      }
      assert.notEqual(
        finalSnapshotIdentifier("spire-mesh", "eks", "a1b2c3d4"),
        finalSnapshotIdentifier("spire-mesh", "eks", "0f0f0f0f"),
      );
    });
  });

  describe("27#9 what destroy leaves behind", () => {
    it("every replica's CA-key claim is a Pulumi resource the controller never deletes and destroy does", async () => {
      const r = await eksRds();
      const sts = findObject(r, "StatefulSet", "spire-server", "spire");
      assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, {
        whenDeleted: "Retain",
        whenScaled: "Retain",
      });
      const claims = kubernetesObjects(r).filter((o) => o.kind === "PersistentVolumeClaim");
      // The StatefulSet controller names a template's claim <template>-<set>-<ordinal>: it adopts these.
      const template = sts.spec.volumeClaimTemplates[0];
      assert.deepEqual(
        claims.map((c) => c.metadata.name),
        [0, 1, 2].map((i) => `${template.metadata.name}-spire-server-${i}`),
      );
      for (const claim of claims) assert.deepEqual(claim.spec, template.spec, claim.metadata.name);
    });

    it("destroy deletes the claims (sqlite's and each replica's) before the gp3 class and the EBS CSI add-on", async () => {
      for (const r of [await eksRds(), await renderStack("eks")]) {
        const graph = new ResourceGraph(r.resources);
        const order = graph.deleteOrder();
        const claims = r.resources.filter((x) => x.type === "kubernetes:core/v1:PersistentVolumeClaim");
        assert.ok(claims.length >= 1);
        const sts = graph.find("kubernetes:apps/v1:StatefulSet", "spire-server");
        for (const claim of claims) {
          assert.ok(
            graph.waitsFor(claim, one(r, "aws:eks/addon:Addon")),
            `${claim.name} waits for the driver`,
          );
          assert.ok(graph.waitsFor(sts, claim), `the server waits for ${claim.name}`);
          assert.ok(
            order.indexOf(claim) < order.indexOf(one(r, "kubernetes:storage.k8s.io/v1:StorageClass")),
            `${claim.name} is deleted before the class`,
          );
        }
      }
    });

    it("tags every volume the driver creates with the stack (tagSpecification_<n>)", async () => {
      const sc = findObject(await renderStack("eks"), "StorageClass", EKS_STORAGE_CLASS);
      const tags = Object.entries(sc.parameters as Record<string, string>)
        .filter(([k]) => /^tagSpecification_\d+$/.test(k))
        .map(([, v]) => v)
        .sort();
      assert.deepEqual(tags, [
        "spire-mesh:managed-by=pulumi",
        "spire-mesh:purpose=spire-server-data",
        "spire-mesh:stack=spire-mesh/eks",
      ]);
    });
  });

  describe("21#19 gp3 reclaim policy (with 27#9): Delete unless spireKeepVolumes", () => {
    it("reclaims with Delete by default and Retain with the documented keep switch", async () => {
      const byDefault = findObject(await renderStack("eks"), "StorageClass", EKS_STORAGE_CLASS);
      assert.equal(byDefault.reclaimPolicy, "Delete");
      const kept = findObject(
        await renderStack("eks", { spireKeepVolumes: "true" }),
        "StorageClass",
        EKS_STORAGE_CLASS,
      );
      assert.equal(kept.reclaimPolicy, "Retain");
      const error = await configError("dev", { spireKeepVolumes: "true" });
      assert.match(error.message, /spireKeepVolumes = true: only applies when cluster=eks/);
    });
  });

  describe("27#12 and 21#8 RDS: TLS verification, deletion protection, connections", () => {
    it("the servers connect with sslmode=verify-full against the RDS CA bundle mounted where sslrootcert points", async () => {
      const r = await eksRds();
      const text = rdsConnectionString("db.example", 5432, "pw");
      assert.match(text, new RegExp(`sslmode=verify-full sslrootcert=${DATASTORE_CA_FILE}$`));
      assert.equal(RDS_TLS, `sslmode=verify-full sslrootcert=${DATASTORE_CA_FILE}`);
      const ca = findObject(r, "ConfigMap", "spire-server-datastore-ca", "spire");
      assert.deepEqual(ca.data, { "ca-bundle.pem": testCaBundle() });
      const pod = findObject(r, "StatefulSet", "spire-server", "spire").spec.template.spec;
      const volume = pod.volumes.find((v: { name: string }) => v.name === "spire-datastore-ca");
      assert.equal(volume.configMap.name, "spire-server-datastore-ca");
      const mount = pod.containers[0].volumeMounts.find(
        (m: { name: string }) => m.name === "spire-datastore-ca",
      );
      assert.equal(`${mount.mountPath}/ca-bundle.pem`, DATASTORE_CA_FILE);
      assert.equal(mount.readOnly, true);
    });

    it("refuses rds without the CA bundle, and a bundle that is not certificates, naming the key", async () => {
      const missing = await configError("eks", { spireDatastore: "rds" });
      assert.match(missing.message, /spireDatastoreCaBundle = "": is required with spireDatastore=rds/);
      const key = await configError("eks", {
        spireDatastore: "rds",
        spireDatastoreCaBundle: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
      });
      assert.match(
        key.message,
        /spireDatastoreCaBundle = "\(\d+ characters\)": must be PEM certificates only/,
      );
      // A caller's own postgres with a bundle but an unverified connection string is refused too.
      assert.throws(
        () =>
          spireSettings({
            trustDomain: "example.org",
            datastore: {
              type: "postgres",
              connectionString: "dbname=spire host=db user=spire sslmode=require",
              caBundle: testCaBundle(),
            },
          }),
        /datastore\.connectionString = "\[secret\]": must hold sslmode=verify-full sslrootcert=/,
      );
    });

    it("is deletion-protected while spireProtectData is on, and only then", async () => {
      const on = one(await eksRds(), "aws:rds/instance:Instance").inputs as Record<string, unknown>;
      assert.equal(on.deletionProtection, true);
      const off = one(await eksRds({ spireProtectData: "false" }), "aws:rds/instance:Instance")
        .inputs as Record<string, unknown>;
      assert.equal(off.deletionProtection, false);
    });

    it("max_open_conns: all replicas together stay under the instance class's connection limit", async () => {
      // RDS: LEAST(DBInstanceClassMemory/9531392, 5000); a db.t4g.micro allows about 80, not SPIRE's 3 x 100.
      assert.equal(rdsMaxConnections("db.t4g.micro"), 84);
      assert.equal(rdsMaxConnections("db.r6g.large"), 1351);
      assert.equal(rdsMaxConnections("db.t4g.nano"), undefined);
      const conf = serverConf(await eksRds());
      const perServer = Number(/max_open_conns = (\d+)/.exec(conf)?.[1]);
      assert.equal(perServer, maxOpenConnsPerServer("db.t4g.micro", 3));
      assert.ok(
        perServer >= 1 && 3 * perServer <= (rdsMaxConnections("db.t4g.micro") as number) - 10,
        `${perServer}`,
      );
      assert.match(serverConf(await eksRds({ spireDatastoreMaxOpenConns: "7" })), /max_open_conns = 7\n/);
      const unknown = await configError("eks", {
        spireDatastore: "rds",
        spireDatastoreCaBundle: testCaBundle(),
        spireRdsInstanceClass: "db.t4g.nano",
      });
      assert.match(
        unknown.message,
        /spireDatastoreMaxOpenConns = 0: cannot be sized for spireRdsInstanceClass db\.t4g\.nano/,
      );
    });

    it("21#8: the database admits the node security group only, on PostgreSQL's port, no address range", async () => {
      const r = await eksRds();
      const group = one(r, "aws:ec2/securityGroup:SecurityGroup", "spire-db").inputs as {
        ingress: Record<string, unknown>[];
      };
      assert.deepEqual(
        group.ingress.map((rule) => [rule.fromPort, rule.toPort, rule.securityGroups, rule.cidrBlocks]),
        [[5432, 5432, ["<placeholder: node security group of cluster, known after pulumi up>"], undefined]],
      );
    });
  });

  describe("21#17 images pinned by tag only", () => {
    it("requireImageDigests refuses every deployed image without a digest, naming each key", async () => {
      const error = await configError("dev", { requireImageDigests: "true" });
      assert.deepEqual(error.problems.map((p) => p.field).sort(), [
        "appNodeImage",
        "envoyImage",
        "spireAgentImage",
        "spireCsiDriverImage",
        "spireCsiRegistrarImage",
        "spireServerImage",
      ]);
      assert.match(error.message, /must be pinned by digest \(name:tag@sha256:<64 hex>\)/);
    });

    it("accepts name:tag@sha256 refs (tags stay possible) and deploys exactly them", async () => {
      const images = {
        spireServerImage: PINNED("ghcr.io/spiffe/spire-server:1.13.3"),
        spireAgentImage: PINNED("ghcr.io/spiffe/spire-agent:1.13.3"),
        spireCsiDriverImage: PINNED("ghcr.io/spiffe/spiffe-csi-driver:0.2.12"),
        spireCsiRegistrarImage: PINNED("registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.15.0"),
        envoyImage: PINNED("envoyproxy/envoy:v1.39.5"),
        appNodeImage: PINNED("node:20-alpine"),
      };
      const r = await renderStack("dev", { requireImageDigests: "true", ...images });
      const deployed = new Set(
        kubernetesObjects(r)
          .map((o) => o.spec?.template?.spec)
          .flatMap((pod) => [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])])
          .map((c: { image: string }) => c.image),
      );
      for (const image of Object.values(images)) assert.ok(deployed.has(image), image);
      for (const image of deployed) assert.match(image, /@sha256:[0-9a-f]{64}$/, image);
      // Without the switch, a plain tag is still accepted; a malformed digest never is.
      const tagged = await renderStack("dev", { spireServerImage: "ghcr.io/spiffe/spire-server:1.13.3" });
      assert.equal(
        findObject(tagged, "StatefulSet", "spire-server", "spire").spec.template.spec.containers[0].image,
        "ghcr.io/spiffe/spire-server:1.13.3",
      );
      const bad = await configError("dev", {
        spireServerImage: "ghcr.io/spiffe/spire-server:1.13.3@sha256:abc",
      });
      assert.match(bad.message, /spireServerImage = .*: must be an image reference/);
    });
  });
});
