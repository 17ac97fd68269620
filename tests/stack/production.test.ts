/**
 * The production settings as the stack renders them: postgres replicas (Secret, env, -expandEnv, OrderedReady,
 * spread, disruption budget, per-replica key volumes), the upstream CA, telemetry; RDS and the ACM-PCA role on
 * EKS; every rendered server.conf and agent.conf accepted by SPIRE 1.13.3's own `validate`; and the config errors.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../core/validation";
import { spireBinary } from "../../local/spireHarness";
import type { RenderResult } from "../../render/runtime";
import { ACM_PCA_ACTIONS } from "../../stack/irsa";
import { findObject, kubernetesObjects, mountedConfigMap, renderStack } from "../support/render";
import { testCaBundle } from "../support/testCa";

const CONNECTION = "dbname=spire host=db.internal port=5432 user=spire password=s3cr3t-pw sslmode=require";
const ARN =
  "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555";
const postgresHa = { spireDatastore: "postgres", spireReplicas: "3", spireTelemetry: "true" };
const diskUpstream = { spireUpstreamAuthority: "disk", spireUpstreamCaSecret: "upstream-ca" };
const renderPostgres = (extra: Record<string, string> = {}) =>
  renderStack("dev", { ...postgresHa, ...extra }, undefined, { spirePostgresConnectionString: CONNECTION });
const eksRds = {
  spireDatastore: "rds",
  spireReplicas: "2",
  spireUpstreamAuthority: "awsPca",
  spireAwsPcaArn: ARN,
  spireAwsPcaRegion: "us-west-2",
  spireTelemetry: "true",
  spireDatastoreCaBundle: testCaBundle(),
};

function found<T>(x: T | undefined): T {
  assert.ok(x, "resource not rendered");
  return x;
}

const serverConf = (r: RenderResult) =>
  mountedConfigMap(r, "StatefulSet", "spire-server", "spire", "spire-config").data["server.conf"] as string;
const agentConf = (r: RenderResult) =>
  mountedConfigMap(r, "DaemonSet", "spire-agent", "spire", "spire-config").data["agent.conf"] as string;

describe("stack: production SPIRE", () => {
  it("postgres: the connection string reaches the servers only through a Secret and -expandEnv", async () => {
    const r = await renderPostgres();
    const sts = findObject(r, "StatefulSet", "spire-server", "spire");
    const [container] = sts.spec.template.spec.containers;
    assert.deepEqual(container.args, ["-config", "/run/spire/config/server.conf", "-expandEnv"]);
    assert.deepEqual(container.env, [
      {
        name: "SPIRE_DATASTORE_CONNECTION_STRING",
        valueFrom: { secretKeyRef: { name: "spire-server-datastore", key: "connection-string" } },
      },
    ]);
    assert.match(serverConf(r), /connection_string = "\$\{SPIRE_DATASTORE_CONNECTION_STRING\}"/);
    assert.match(serverConf(r), /database_type = "postgres"/);
    // Kept a secret: the render (like preview) shows the Secret's data redacted, and nothing else holds it.
    const secret = findObject(r, "Secret", "spire-server-datastore", "spire");
    assert.equal(secret.stringData, "[secret]");
    assert.doesNotMatch(JSON.stringify(r.resources) + JSON.stringify(r.outputs), /s3cr3t-pw/);
  });

  it("postgres replicas: OrderedReady, spread over nodes, a disruption budget, each replica its own key volume", async () => {
    const r = await renderPostgres();
    const sts = findObject(r, "StatefulSet", "spire-server", "spire");
    assert.equal(sts.spec.replicas, 3);
    assert.equal(sts.spec.podManagementPolicy, "OrderedReady");
    const pod = sts.spec.template.spec;
    assert.deepEqual(
      pod.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey),
      ["kubernetes.io/hostname"],
    );
    assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, "spire-data");
    assert.ok(!pod.volumes.some((v: { name: string }) => v.name === "spire-data"), "no shared claim");
    assert.deepEqual(
      kubernetesObjects(r)
        .filter((o) => o.kind === "PersistentVolumeClaim")
        .map((o) => o.metadata.name),
      ["spire-data-spire-server-0", "spire-data-spire-server-1", "spire-data-spire-server-2"],
      "one claim per replica, under the template's names, none shared",
    );
    assert.match(serverConf(r), /KeyManager "disk"/);
    const pdb = findObject(r, "PodDisruptionBudget", "spire-server", "spire");
    assert.deepEqual(pdb.spec, { maxUnavailable: 1, selector: { matchLabels: { app: "spire-server" } } });
    // Every replica behind the one Service, Ready only when SPIRE's own /ready says so.
    const service = findObject(r, "Service", "spire-server", "spire");
    assert.deepEqual(service.spec.selector, { app: "spire-server" });
    assert.equal(pod.containers[0].readinessProbe.httpGet.path, "/ready");
  });

  it("telemetry: Prometheus on server and agent, container ports, scrape annotations, admitted by the policy", async () => {
    const r = await renderPostgres();
    // The server listens in its pod's network; the agent shares the node's, so it binds the node's address only.
    for (const [kind, name, conf, host] of [
      ["StatefulSet", "spire-server", serverConf(r), "0\\.0\\.0\\.0"],
      ["DaemonSet", "spire-agent", agentConf(r), "\\$\\{SPIRE_AGENT_NODE_IP\\}"],
    ] as const) {
      assert.match(
        conf,
        new RegExp(`telemetry \\{\\n {2}Prometheus \\{\\n {4}host = "${host}"\\n {4}port = 9988`),
      );
      const pod = findObject(r, kind, name, "spire").spec.template;
      assert.equal(pod.metadata.annotations["prometheus.io/scrape"], "true");
      assert.equal(pod.metadata.annotations["prometheus.io/port"], "9988");
      const port = pod.spec.containers[0].ports.find((p: { name: string }) => p.name === "metrics");
      assert.equal(port.containerPort, 9988);
    }
    const policy = findObject(r, "NetworkPolicy", "spire-server", "spire");
    assert.ok(policy.spec.ingress[0].ports.some((p: { port: number }) => p.port === 9988));
    const agent = findObject(r, "DaemonSet", "spire-agent", "spire").spec.template.spec.containers[0];
    assert.deepEqual(agent.env, [
      { name: "SPIRE_AGENT_NODE_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
    ]);
    assert.equal(agent.args.at(-1), "-expandEnv");
  });

  it("disk upstream: the named Secret mounted read-only where server.conf reads tls.crt and tls.key", async () => {
    const r = await renderPostgres(diskUpstream);
    const pod = findObject(r, "StatefulSet", "spire-server", "spire").spec.template.spec;
    const volume = pod.volumes.find((v: { name: string }) => v.name === "spire-upstream-ca");
    assert.deepEqual(volume.secret, { secretName: "upstream-ca", defaultMode: 0o440 });
    const mount = pod.containers[0].volumeMounts.find(
      (m: { name: string }) => m.name === "spire-upstream-ca",
    );
    assert.deepEqual(mount, { name: "spire-upstream-ca", mountPath: "/run/spire/upstream", readOnly: true });
    assert.match(serverConf(r), /cert_file_path = "\/run\/spire\/upstream\/tls\.crt"/);
    assert.match(serverConf(r), /key_file_path = "\/run\/spire\/upstream\/tls\.key"/);
  });

  it("eks with rds: encrypted PostgreSQL in the VPC's private subnets, admitting only the node security group", async () => {
    const r = await renderStack("eks", eksRds);
    const db = r.resources.find((x) => x.type === "aws:rds/instance:Instance");
    const inputs = db?.inputs as Record<string, unknown>;
    assert.equal(inputs.engine, "postgres");
    assert.equal(inputs.storageEncrypted, true);
    assert.equal(inputs.publiclyAccessible, false);
    assert.equal(inputs.password, "[secret]", "the generated password is a secret");
    const group = r.resources.find((x) => x.type === "aws:rds/subnetGroup:SubnetGroup");
    // The stack VPC's private subnets (tests/stack/eksAccount.test.ts, finding 3).
    assert.deepEqual((found(group).inputs as { subnetIds: string[] }).subnetIds, [
      "eks-private-0-id",
      "eks-private-1-id",
    ]);
    const firewall = r.resources.find(
      (x) => x.type === "aws:ec2/securityGroup:SecurityGroup" && x.name === "spire-db",
    );
    const ingress = (found(firewall).inputs as { ingress: Record<string, unknown>[] }).ingress;
    assert.equal(ingress.length, 1);
    assert.deepEqual(ingress[0].securityGroups, [
      "<placeholder: node security group of cluster, known after pulumi up>",
    ]);
    assert.equal(ingress[0].fromPort, 5432);
    assert.equal(ingress[0].cidrBlocks, undefined, "no address range: only the nodes");
    assert.ok(r.resources.some((x) => x.type === "random:index/randomPassword:RandomPassword"));
    const secret = findObject(r, "Secret", "spire-server-datastore", "spire");
    assert.equal(secret.stringData, "[secret]", "the connection string with the password stays secret");
    const sts = findObject(r, "StatefulSet", "spire-server", "spire");
    assert.deepEqual(
      sts.spec.template.spec.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey),
      ["kubernetes.io/hostname", "topology.kubernetes.io/zone"],
      "spread across zones on EKS",
    );
  });

  it("eks with awsPca: an IRSA role for the server with exactly the ACM-PCA actions SPIRE calls, on that CA", async () => {
    const r = await renderStack("eks", eksRds);
    const role = r.resources.find((x) => x.type === "aws:iam/role:Role" && x.name === "spire-server-pca");
    const trust = JSON.parse((found(role).inputs as { assumeRolePolicy: string }).assumeRolePolicy);
    const sub = Object.entries(trust.Statement[0].Condition.StringEquals).find(([k]) => k.endsWith(":sub"));
    assert.equal(sub?.[1], "system:serviceaccount:spire:spire-server");
    const policy = r.resources.find((x) => x.type === "aws:iam/rolePolicy:RolePolicy");
    const document = JSON.parse((found(policy).inputs as { policy: string }).policy);
    const allowed = document.Statement.flatMap((st: { Action: string | string[] }) => st.Action);
    assert.deepEqual(allowed.sort(), [...ACM_PCA_ACTIONS].sort());
    assert.ok(
      document.Statement.every((st: { Resource: string }) => st.Resource === ARN),
      "on that CA only",
    );
    assert.deepEqual([...ACM_PCA_ACTIONS].sort(), [
      "acm-pca:DescribeCertificateAuthority",
      "acm-pca:GetCertificate",
      "acm-pca:IssueCertificate",
    ]);
    const account = findObject(r, "ServiceAccount", "spire-server", "spire");
    assert.match(
      account.metadata.annotations?.["eks.amazonaws.com/role-arn"] ?? "",
      /ARN of aws:iam\/role:Role spire-server-pca/,
    );
    assert.match(
      serverConf(r),
      /UpstreamAuthority "aws_pca" \{\n {4}plugin_data \{\n {6}region = "us-west-2"/,
    );
  });

  describe("SPIRE validate accepts every rendered variant", () => {
    let dir: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "spm-variants-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const variants: [string, () => Promise<RenderResult>][] = [
      ["sqlite, one server, telemetry", () => renderStack("dev", { spireTelemetry: "true" })],
      ["postgres, 3 replicas, telemetry", () => renderPostgres()],
      ["postgres with the disk upstream", () => renderPostgres(diskUpstream)],
      ["eks: rds, 2 replicas, aws_pca, telemetry", () => renderStack("eks", eksRds)],
    ];
    for (const [name, render] of variants) {
      it(name, async () => {
        const r = await render();
        for (const [binary, text] of [
          ["spire-server", serverConf(r)],
          ["spire-agent", agentConf(r)],
        ] as const) {
          const file = path.join(dir, `${binary}.conf`);
          fs.writeFileSync(file, text);
          const v = spawnSync(spireBinary(binary), ["validate", "-expandEnv", "-config", file], {
            encoding: "utf8",
            timeout: 20_000,
            env: { ...process.env, SPIRE_DATASTORE_CONNECTION_STRING: CONNECTION },
          });
          assert.equal(v.status, 0, `${binary}: ${v.stdout}${v.stderr}`);
          assert.match(v.stdout, /configuration file is valid/);
        }
      });
    }
  });

  describe("config errors", () => {
    async function configError(overrides: Record<string, string>, secrets: Record<string, string> = {}) {
      try {
        await renderStack("dev", overrides, undefined, secrets);
      } catch (e) {
        const cause = (e as Error & { cause?: unknown }).cause ?? e;
        if (cause instanceof ValidationError) return cause;
        throw e;
      }
      assert.fail("the render should have failed");
    }

    it("spireReplicas above 1 with sqlite: one error naming both keys", async () => {
      const error = await configError({ spireReplicas: "3" });
      assert.equal(error.problems.length, 1, error.message);
      assert.equal(error.problems[0].field, "spireReplicas");
      assert.match(error.problems[0].rule, /spireDatastore=postgres or rds/);
    });

    it("postgres without a connection string, a plain-text one, rds off EKS, stray upstream keys", async () => {
      const missing = await configError({ spireDatastore: "postgres" });
      assert.match(
        missing.message,
        /spirePostgresConnectionString = "": is required when spireDatastore=postgres/,
      );
      const plain = await configError({
        spireDatastore: "postgres",
        spirePostgresConnectionString: CONNECTION,
      });
      assert.match(plain.message, /must be set with `pulumi config set --secret`/);
      assert.doesNotMatch(plain.message, /s3cr3t-pw/);
      const rds = await configError({ spireDatastore: "rds" });
      assert.match(rds.message, /spireDatastore = "rds": requires cluster=eks/);
      const stray = await configError({ spireAwsPcaArn: ARN, spireUpstreamAuthority: "disk" });
      const fields = stray.problems.map((p) => p.field).sort();
      assert.deepEqual(fields, ["spireAwsPcaArn", "spireUpstreamCaSecret"]);
    });
  });
});
