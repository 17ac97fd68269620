/**
 * Every NetworkPolicy the renders create, judged by a real kube-apiserver (the loopback cluster): applied
 * server-side with strict field validation into their namespaces, then read back, and what the server stored
 * must be what was rendered (nothing dropped or defaulted away). Witness that the server does judge them: a
 * policy with a field it does not know, and one with a bad protocol, are refused.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { binary } from "../../local/cluster/cluster";
import type { RenderResult } from "../../render/runtime";
import { type E2eCluster, startE2eCluster } from "../e2e/support";
import { appMesh, type KubeObject, kubernetesObjects, renderStack } from "../support/render";
import { testCaBundle } from "../support/testCa";

const consumer = path.resolve(__dirname, "../../examples/consumer");
const federation = path.resolve(__dirname, "../../examples/federation");

/** The renders, and how many policies each must hold at least (so an empty render cannot pass). */
const RENDERS: readonly [string, () => Promise<RenderResult>, number][] = [
  ["dev", () => renderStack("dev"), 6],
  ["dev, gateway", () => renderStack("dev", { gateway: "true" }), 7],
  ["dev, gateway, appmesh", () => renderStack("dev", { ...appMesh, gateway: "true" }), 7],
  [
    "eks, rds, telemetry",
    () =>
      renderStack("eks", {
        spireDatastore: "rds",
        spireDatastoreCaBundle: testCaBundle(),
        spireReplicas: "2",
        spireTelemetry: "true",
      }),
    6,
  ],
  ["examples/consumer", () => renderStack("dev", {}, consumer), 8],
  ["examples/federation west", () => renderStack("west", {}, federation), 3],
  ["examples/federation east", () => renderStack("east", {}, federation), 3],
];

describe("rendered NetworkPolicies on a real kube-apiserver (loopback cluster)", function () {
  this.timeout(600_000);
  let cluster: E2eCluster;

  const kubectl = (args: readonly string[], input?: string) =>
    spawnSync(binary("kubectl"), ["--kubeconfig", cluster.state.kubeconfig, ...args], {
      encoding: "utf8",
      input,
      timeout: 60_000,
    });
  const list = (items: readonly KubeObject[]) => JSON.stringify({ apiVersion: "v1", kind: "List", items });
  const apply = (items: readonly KubeObject[]) =>
    kubectl(
      ["apply", "--server-side", "--field-manager=netpol-test", "--validate=strict", "-f", "-"],
      list(items),
    );

  before(async () => {
    cluster = await startE2eCluster("spm-netpol-");
  });
  after(async () => {
    await cluster?.stop();
  });

  for (const [name, render, floor] of RENDERS) {
    it(`${name}: every policy is accepted and stored as rendered`, async () => {
      const objects = kubernetesObjects(await render());
      const policies = objects.filter((o) => o.kind === "NetworkPolicy");
      assert.ok(policies.length >= floor, `${name}: ${policies.length} policies, expected >= ${floor}`);
      const namespaces = [...new Set(policies.map((p) => p.metadata.namespace as string))];
      const ns = apply(
        namespaces.map((n) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name: n } })),
      );
      assert.equal(ns.status, 0, ns.stderr);
      const r = apply(policies);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      for (const p of policies) {
        const got = kubectl([
          "get",
          "networkpolicy",
          "-n",
          p.metadata.namespace as string,
          p.metadata.name,
          "-o",
          "json",
        ]);
        assert.equal(got.status, 0, got.stderr);
        assert.deepEqual(
          JSON.parse(got.stdout).spec,
          p.spec,
          `${name}: ${p.metadata.namespace}/${p.metadata.name}`,
        );
      }
      // The next render reuses names and namespaces: start it from none.
      for (const n of namespaces) {
        const d = kubectl(["delete", "networkpolicy", "--all", "-n", n]);
        assert.equal(d.status, 0, d.stderr);
      }
    });
  }

  it("witness: the server refuses an unknown field and a bad protocol", async () => {
    const [policy] = kubernetesObjects(await renderStack("dev")).filter(
      (o) => o.kind === "NetworkPolicy" && o.metadata.name !== "default-deny",
    );
    const ns = apply([
      { apiVersion: "v1", kind: "Namespace", metadata: { name: policy.metadata.namespace as string } },
    ]);
    assert.equal(ns.status, 0, ns.stderr);
    const unknown = apply([{ ...policy, spec: { ...policy.spec, egres: policy.spec.egress } }]);
    assert.notEqual(unknown.status, 0, "a misspelt egress was accepted");
    assert.match(unknown.stderr, /egres/);
    const badProtocol = {
      ...policy,
      spec: { ...policy.spec, egress: [{ ports: [{ protocol: "ICMP", port: 53 }] }] },
    };
    const refused = apply([badProtocol]);
    assert.notEqual(refused.status, 0, "protocol ICMP was accepted");
    assert.match(refused.stderr, /protocol/i);
  });
});
