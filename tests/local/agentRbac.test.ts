/**
 * The agent's and server's RBAC as the dev stack renders it, judged by a real kube-apiserver (the loopback
 * cluster, authorization mode Node,RBAC). The objects go in as rendered; every question is the one the real
 * caller asks:
 * - the kubelet authorizes the agent's k8s workload attestor (GET /pods with the agent's token) with a
 *   SubjectAccessReview for `get nodes/pods` (fine-grained kubelet authorization, KEP-2862), and the websocket
 *   `/exec`, `/attach` and `/portForward` with `get nodes/proxy`; the API server's node proxy checks `get` or
 *   `create` on nodes/proxy;
 * - the server's k8s_psat creates a TokenReview and gets the agent's pod and node.
 * Witness that the authorizer can say yes to nodes/proxy: the legacy switch's render, applied over it.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { binary } from "../../local/cluster/cluster";
import { type E2eCluster, startE2eCluster } from "../e2e/support";
import { type KubeObject, kubernetesObjects, renderStack } from "../support/render";

const AGENT = "system:serviceaccount:spire:spire-agent";
const SERVER = "system:serviceaccount:spire:spire-server";

interface Attributes {
  readonly verb: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly group?: string;
  readonly namespace?: string;
  readonly name?: string;
}

/** The RBAC a render creates, and what it needs to exist first. */
function rbacObjects(objects: readonly KubeObject[]): KubeObject[] {
  const kinds = ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"];
  return objects
    .filter((o) => kinds.includes(o.kind))
    .filter((o) => o.kind !== "ServiceAccount" || o.metadata.namespace === "spire")
    .filter((o) => o.kind !== "Namespace" || o.metadata.name === "spire")
    .sort((a, b) => kinds.indexOf(a.kind) - kinds.indexOf(b.kind));
}

describe("SPIRE RBAC on a real kube-apiserver (loopback cluster)", function () {
  this.timeout(300_000);
  let cluster: E2eCluster;
  let node: string;

  const kubectl = (args: readonly string[], input?: string) =>
    spawnSync(binary("kubectl"), ["--kubeconfig", cluster.state.kubeconfig, ...args], {
      encoding: "utf8",
      input,
      timeout: 60_000,
    });

  const apply = (objects: readonly KubeObject[]) => {
    const r = kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    );
    assert.equal(r.status, 0, r.stderr);
  };

  /** The SubjectAccessReview a kubelet or the API server makes for a ServiceAccount's request. */
  const allowed = async (user: string, a: Attributes): Promise<boolean> => {
    const namespace = user.split(":")[2];
    const r = await cluster.api.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user,
        groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
        resourceAttributes: { group: a.group ?? "", ...a },
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.status.allowed === true;
  };

  before(async () => {
    cluster = await startE2eCluster("spm-rbac-");
    node = cluster.state.nodes[0];
    apply(rbacObjects(kubernetesObjects(await renderStack("dev"))));
  });
  after(async () => {
    await cluster?.stop();
  });

  it("the agent may list its node's pods through the kubelet (nodes/pods) and nothing else", async () => {
    assert.equal(
      await allowed(AGENT, { verb: "get", resource: "nodes", subresource: "pods", name: node }),
      true,
    );
    const refused: Attributes[] = [
      // The kubelet's websocket exec, attach and port-forward, and the API server's node proxy.
      { verb: "get", resource: "nodes", subresource: "proxy", name: node },
      { verb: "create", resource: "nodes", subresource: "proxy", name: node },
      // What the agent used to hold and no attestor of the agent calls.
      { verb: "get", resource: "pods", namespace: "spire", name: "spire-server-0" },
      { verb: "get", resource: "nodes", name: node },
      { verb: "create", resource: "pods", subresource: "exec", namespace: "spire", name: "spire-server-0" },
    ];
    const granted = [];
    for (const a of refused) if (await allowed(AGENT, a)) granted.push(a);
    assert.deepEqual(granted, []);
  });

  it("the agent's token cannot reach the kubelet through the API server's node proxy", () => {
    const r = kubectl(["get", "--raw", `/api/v1/nodes/${node}/proxy/pods`, `--as=${AGENT}`]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /forbidden|Forbidden/);
    assert.match(r.stderr, /nodes\/proxy/);
  });

  it("the server may do what k8s_psat does: TokenReview, the agent's pod and node", async () => {
    const needed: Attributes[] = [
      { verb: "create", resource: "tokenreviews", group: "authentication.k8s.io" },
      { verb: "get", resource: "pods", namespace: "spire", name: "spire-agent-x1y2z" },
      { verb: "get", resource: "nodes", name: node },
    ];
    for (const a of needed) assert.equal(await allowed(SERVER, a), true, JSON.stringify(a));
    assert.equal(
      await allowed(SERVER, { verb: "get", resource: "nodes", subresource: "proxy", name: node }),
      false,
    );
  });

  it("with the legacy switch the same apiserver grants nodes/proxy: the check above can fail", async () => {
    const legacy = kubernetesObjects(await renderStack("dev", { spireLegacyNodesProxyGrant: "true" }));
    apply(rbacObjects(legacy).filter((o) => o.kind === "ClusterRole"));
    try {
      assert.equal(
        await allowed(AGENT, { verb: "get", resource: "nodes", subresource: "proxy", name: node }),
        true,
      );
      // The API server's node proxy now lets the agent's token through to the (fake) kubelet.
      const r = kubectl(["get", "--raw", `/api/v1/nodes/${node}/proxy/pods`, `--as=${AGENT}`]);
      assert.doesNotMatch(r.stderr, /forbidden/i, r.stderr);
    } finally {
      apply(rbacObjects(kubernetesObjects(await renderStack("dev"))).filter((o) => o.kind === "ClusterRole"));
    }
    assert.equal(
      await allowed(AGENT, { verb: "get", resource: "nodes", subresource: "proxy", name: node }),
      false,
    );
  });
});
