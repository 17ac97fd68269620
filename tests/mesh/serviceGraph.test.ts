/**
 * SAN lists are derived from the service graph (who routes to whom), not kept by hand: front accepts exactly the
 * colour identities, each colour accepts exactly front, and a new colour or a new caller shows up on its own.
 */
import assert from "node:assert/strict";
import { ColorApp } from "../../components/colorApp";
import { DataPlane } from "../../mesh/envoySidecar";
import { callerIdentities, type MeshGraph, serverIdentities } from "../../mesh/serviceGraph";
import { isKubernetesObject, kubernetesObject } from "../../render/write";
import { construct, walkthroughInstallation } from "../support/mocks";
import type { KubeObject } from "../support/render";

const FRONT = "spiffe://howto-k8s-mtls-sds-based.aws/front";
const BLUE = "spiffe://howto-k8s-mtls-sds-based.aws/colorblue";
const GREEN = "spiffe://howto-k8s-mtls-sds-based.aws/colorgreen";
const RED = "spiffe://howto-k8s-mtls-sds-based.aws/colorred";
const YELLOW = "spiffe://howto-k8s-mtls-sds-based.aws/coloryellow";

/** The App Mesh objects a ColorApp registers, by kind and name. */
async function colorAppMeshObjects(colors?: string[]) {
  const recording = await construct(
    () =>
      new ColorApp("demo", {
        installation: walkthroughInstallation(),
        dataPlane: DataPlane.AppMesh,
        ...(colors ? { colors } : {}),
      }),
  );
  assert.ok(recording.value instanceof ColorApp, String(recording.value));
  const objects = recording.resources
    .filter(isKubernetesObject)
    .map((r) => kubernetesObject(r) as KubeObject)
    .filter((o) => o.apiVersion === "appmesh.k8s.aws/v1beta2");
  const find = (kind: string, name: string) => {
    const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
    assert.equal(found.length, 1, `${kind}/${name}`);
    return found[0];
  };
  return { objects, find };
}

const clientSans = (node: KubeObject): string[] =>
  node.spec.backendDefaults.clientPolicy.tls.validation.subjectAlternativeNames.match.exact;
const listenerSans = (node: KubeObject): string[] =>
  node.spec.listeners[0].tls.validation.subjectAlternativeNames.match.exact;

describe("SAN lists from the service graph", () => {
  describe("the walkthrough's colour app", () => {
    const byName = async (name: string) => {
      const { value } = await construct(
        () => new ColorApp("demo", { installation: walkthroughInstallation() }),
      );
      assert.ok(value instanceof ColorApp, String(value));
      return value.workloads[name].nodeArgs;
    };

    it("front's allowedServers are exactly the three colour identities", async () => {
      const front = await byName("front");
      assert.deepEqual([...(front.allowedServers ?? [])].sort(), [BLUE, GREEN, RED]);
      assert.deepEqual(front.allowedCallers ?? [], [], "nothing in the mesh calls front");
    });

    it("each colour's allowedCallers is exactly front, and it calls nothing", async () => {
      for (const color of ["blue", "green", "red"]) {
        const node = await byName(color);
        assert.deepEqual(node.allowedCallers, [FRONT], color);
        assert.deepEqual(node.allowedServers ?? [], [], color);
      }
    });

    it("the registered VirtualNodes carry those lists", async () => {
      const { find } = await colorAppMeshObjects();
      assert.deepEqual([...clientSans(find("VirtualNode", "front"))].sort(), [BLUE, GREEN, RED]);
      for (const color of ["blue", "green", "red"]) {
        assert.deepEqual(listenerSans(find("VirtualNode", color)), [FRONT], color);
      }
    });
  });

  describe("adding a colour: colors blue, green, red, yellow", () => {
    it("adds yellow's identity to front's allowed servers, and yellow allows front", async () => {
      const { find } = await colorAppMeshObjects(["blue", "green", "red", "yellow"]);
      assert.deepEqual([...clientSans(find("VirtualNode", "front"))].sort(), [BLUE, GREEN, RED, YELLOW]);
      const yellow = find("VirtualNode", "yellow");
      assert.deepEqual(listenerSans(yellow), [FRONT]);
      assert.equal(yellow.spec.listeners[0].tls.certificate.sds.secretName, YELLOW);
    });

    it("adds a fourth route, priority 40, on header color_header = yellow to node yellow", async () => {
      const { find } = await colorAppMeshObjects(["blue", "green", "red", "yellow"]);
      const routes = find("VirtualRouter", "color").spec.routes;
      assert.deepEqual(
        routes.map((r: { name: string; priority: number }) => [r.name, r.priority]),
        [
          ["color-route-blue", 10],
          ["color-route-green", 20],
          ["color-route-red", 30],
          ["color-route-yellow", 40],
        ],
      );
      assert.deepEqual(routes[3].httpRoute, {
        match: { prefix: "/", headers: [{ name: "color_header", match: { exact: "yellow" } }] },
        action: { weightedTargets: [{ virtualNodeRef: { name: "yellow" }, weight: 1 }] },
      });
    });
  });

  describe("serviceGraph.ts on a hand-built graph", () => {
    // front and admin both call `color`; `color` routes to blue and green; blue also calls `audit` (to logger).
    const graph: MeshGraph = {
      nodes: [
        { name: "front", identity: "spiffe://example.org/front", backends: ["color"] },
        { name: "admin", identity: "spiffe://example.org/admin", backends: ["color"] },
        { name: "blue", identity: "spiffe://example.org/blue", backends: ["audit"] },
        { name: "green", identity: "spiffe://example.org/green", backends: [] },
        { name: "logger", identity: "spiffe://example.org/logger", backends: [] },
        { name: "anonymous", backends: ["color"] },
      ],
      routes: { color: ["blue", "green"], audit: ["logger"] },
    };

    it("a second caller appears in each callee's caller list", () => {
      assert.deepEqual(callerIdentities(graph, "blue"), [
        "spiffe://example.org/front",
        "spiffe://example.org/admin",
      ]);
      assert.deepEqual(callerIdentities(graph, "green"), [
        "spiffe://example.org/front",
        "spiffe://example.org/admin",
      ]);
    });

    it("callers and servers follow routes, not node names", () => {
      assert.deepEqual(callerIdentities(graph, "logger"), ["spiffe://example.org/blue"]);
      assert.deepEqual(serverIdentities(graph, "blue"), ["spiffe://example.org/logger"]);
      assert.deepEqual(serverIdentities(graph, "admin"), [
        "spiffe://example.org/blue",
        "spiffe://example.org/green",
      ]);
    });

    it("a node nobody routes to has no callers; a node without backends has no servers", () => {
      assert.deepEqual(callerIdentities(graph, "front"), []);
      assert.deepEqual(serverIdentities(graph, "green"), []);
      assert.deepEqual(serverIdentities(graph, "no-such-node"), []);
    });

    it("a caller without an identity adds no SAN (there is nothing to match)", () => {
      assert.ok(!callerIdentities(graph, "blue").some((id) => id.includes("anonymous")));
      assert.deepEqual(serverIdentities(graph, "anonymous"), [
        "spiffe://example.org/blue",
        "spiffe://example.org/green",
      ]);
    });

    it("a backend with no route contributes no servers", () => {
      const lonely: MeshGraph = {
        nodes: [{ name: "a", identity: "spiffe://example.org/a", backends: ["missing"] }],
        routes: {},
      };
      assert.deepEqual(serverIdentities(lonely, "a"), []);
    });
  });
});
