/**
 * The builders that do not know their installation (a bare MtlsVirtualNode, the gateway) mount the agent socket
 * through the SPIFFE CSI driver csi.spiffe.io by default, so their pods need no hostPath volume; hostPath is
 * an explicit choice. Read from the pod spec they produce, as the API server would see it.
 */
import assert from "node:assert/strict";
import { gatewayPlan } from "../../mesh/gatewayObjects";
import { meshNodePlan } from "../../mesh/meshNode";

const TD = "example.org";
const NS = "shop";

// biome-ignore lint/suspicious/noExplicitAny: pod specs are plain JSON.
type Json = any;

const node = {
  name: "ledger",
  namespace: NS,
  podSelector: { app: "ledger" },
  trustDomain: TD,
  identity: `spiffe://${TD}/ledger`,
};

const gateway = {
  name: "edge",
  namespace: NS,
  trustDomain: TD,
  identity: `spiffe://${TD}/edge`,
  backends: [
    {
      virtualService: "ledger",
      hostname: `ledger.${NS}.svc.cluster.local`,
      routes: [{ name: "all", target: node }],
    },
  ],
  routes: [{ prefix: "/ledger", virtualService: "ledger" }],
};

/** The volume behind the Envoy container's agent-socket mount, and whether the pod has any hostPath. */
function socketVolume(pod: { volumes: readonly Json[]; containers: readonly Json[] }) {
  const mount = pod.containers
    .find((c) => c.name === "envoy")
    .volumeMounts.find((m: Json) => m.mountPath === "/run/spire/sockets");
  assert.ok(mount, "envoy mounts the agent socket directory");
  const volume = pod.volumes.find((v) => v.name === mount.name);
  return { volume, hostPaths: pod.volumes.filter((v) => v.hostPath).length };
}

const nodePod = (workloadApi?: { csiDriver: string } | { hostPath: true }) => {
  const additions = meshNodePlan({ ...node, ...(workloadApi ? { workloadApi } : {}) }).envoy?.pod;
  assert.ok(additions);
  return { volumes: additions.volumes, containers: additions.initContainers };
};

const gatewayPod = (workloadApi?: { csiDriver: string } | { hostPath: true }) =>
  (gatewayPlan({ ...gateway, ...(workloadApi ? { workloadApi } : {}) }).objects.deployment as Json).spec
    .template.spec;

describe("the Workload API volume of builders without an installation", () => {
  for (const [what, pod] of [
    ["a bare MtlsVirtualNode's sidecar", nodePod],
    ["the gateway", gatewayPod],
  ] as const) {
    it(`${what}: the CSI driver csi.spiffe.io by default, no hostPath`, () => {
      const { volume, hostPaths } = socketVolume(pod());
      assert.deepEqual(volume.csi, { driver: "csi.spiffe.io", readOnly: true });
      assert.equal(hostPaths, 0);
    });

    it(`${what}: hostPath when chosen explicitly`, () => {
      const { volume } = socketVolume(pod({ hostPath: true }));
      assert.deepEqual(volume.hostPath, { path: "/run/spire/sockets", type: "Directory" });
    });
  }
});
