/**
 * Ordering that works on the first `pulumi up` and a destroy that leaves nothing behind, read from the
 * dependency edges the real program registers.
 */
import assert from "node:assert/strict";
import { ResourceGraph } from "../support/graph";
import { appMesh, renderStack } from "../support/render";

const k8s = {
  statefulSet: "kubernetes:apps/v1:StatefulSet",
  daemonSet: "kubernetes:apps/v1:DaemonSet",
  deployment: "kubernetes:apps/v1:Deployment",
  release: "kubernetes:helm.sh/v3:Release",
};
const entryCommand = "command:local:Command";

describe("stack ordering (dev)", () => {
  let graph: ResourceGraph;
  before(async () => {
    graph = new ResourceGraph((await renderStack("dev", { ...appMesh, registerGreen: "true" })).resources);
  });

  it("meshed pods wait for the SPIRE agent DaemonSet (their socket hostPath must exist)", () => {
    const agents = graph.find(k8s.daemonSet, "spire-agent");
    for (const app of ["front", "blue", "green", "red"]) {
      assert.ok(graph.waitsFor(graph.find(k8s.deployment, `colorapp-${app}-deployment`), agents), app);
    }
  });

  it("entries are created only after the SPIRE server is ready", () => {
    const server = graph.find(k8s.statefulSet, "spire-server");
    for (const entry of ["spire-agent", "front", "colorblue", "colorgreen", "colorred"]) {
      assert.ok(graph.waitsFor(graph.find(entryCommand, `${entry}-entry`), server), entry);
    }
  });

  it("App Mesh resources and meshed pods wait for the controller release (CRDs and webhook)", () => {
    const controller = graph.find(k8s.release, "appmesh-controller");
    const custom = graph.resources.filter((r) => r.type.startsWith("kubernetes:appmesh.k8s.aws/v1beta2:"));
    assert.equal(custom.length, 7, "mesh, 4 virtual nodes, router, service");
    for (const r of custom) assert.ok(graph.waitsFor(r, controller), r.name);
    assert.ok(graph.waitsFor(graph.find(k8s.deployment, "colorapp-front-deployment"), controller));
  });

  it("a deployment waits for its virtual node, which waits for the mesh", () => {
    const node = graph.find("kubernetes:appmesh.k8s.aws/v1beta2:VirtualNode", "colorapp-blue-virtual-node");
    const mesh = graph.find("kubernetes:appmesh.k8s.aws/v1beta2:Mesh", "colorapp-mesh");
    assert.ok(graph.waitsFor(graph.find(k8s.deployment, "colorapp-blue-deployment"), node));
    assert.ok(graph.waitsFor(node, mesh));
  });

  it("the SPIRE agents wait for a ready server, and the server for its RBAC and bundle ConfigMap", () => {
    const server = graph.find(k8s.statefulSet, "spire-server");
    assert.ok(graph.waitsFor(graph.find(k8s.daemonSet, "spire-agent"), server));
    for (const [type, name] of [
      ["kubernetes:core/v1:ConfigMap", "spire-bundle"],
      ["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "spire-server-bundle-role-binding"],
      ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "spire-server-cluster-role-binding"],
    ]) {
      assert.ok(graph.waitsFor(server, graph.find(type, name)), name);
    }
  });

  it("destroy deletes entries before the server, and removes the cluster-scoped RBAC too", () => {
    const order = graph.deleteOrder();
    const position = (type: string, name: string) => order.indexOf(graph.find(type, name));
    const server = position(k8s.statefulSet, "spire-server");
    for (const entry of ["spire-agent", "front", "colorblue", "colorgreen", "colorred"]) {
      assert.ok(position(entryCommand, `${entry}-entry`) < server, `${entry} entry before the server`);
    }
    // Everything is a managed resource, so destroy removes what the walkthrough's cleanup.sh leaves behind.
    const clusterScoped = order
      .filter((r) => /ClusterRole(Binding)?$/.test(r.type))
      .map((r) => r.name)
      .sort();
    assert.deepEqual(clusterScoped, [
      "spire-agent-cluster-role",
      "spire-agent-cluster-role-binding",
      "spire-server-cluster-role",
      "spire-server-cluster-role-binding",
    ]);
    assert.ok(position(k8s.deployment, "colorapp-front-deployment") < position(k8s.daemonSet, "spire-agent"));
    assert.ok(position("kubernetes:core/v1:Namespace", "spire-namespace") > server);
  });
});
