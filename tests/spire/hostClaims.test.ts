/**
 * What an installation claims on every node (the agents' socket directory, health and telemetry ports) follows
 * from its namespace, so two installations on defaults never share a claim; the default installation keeps the
 * well-known values; every consumer of the socket (agent, CSI driver, sidecars) reads the installation's; and
 * the agent declares its ports as hostPorts, so the scheduler refuses a port that is still shared.
 */
import assert from "node:assert/strict";
import { csiDriverManifests } from "../../spire/csiDriver";
import { agentHostClaims } from "../../spire/hostClaims";
import { spireManifests } from "../../spire/manifests";
import { type SpireSettings, spireSettings } from "../../spire/settings";

const trustDomain = "example.org";
const telemetry = {};

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are read loosely.
type Obj = any;

/** What the rendered objects claim on a node: host directories and host ports, per workload. */
function nodeClaims(s: SpireSettings) {
  const agent: Obj = spireManifests(s).agentDaemonSet;
  const csi: Obj = csiDriverManifests(s).daemonSet;
  const container = agent.spec.template.spec.containers[0];
  const volume = (pod: Obj, name: string) => pod.spec.template.spec.volumes.find((v: Obj) => v.name === name);
  return {
    agentSocketDir: volume(agent, "spire-agent-socket").hostPath.path,
    agentMountPath: container.volumeMounts.find((m: Obj) => m.name === "spire-agent-socket").mountPath,
    csiSocketDir: volume(csi, "spire-agent-socket-dir").hostPath.path,
    hostPorts: container.ports.map((p: Obj) => p.hostPort),
    containerPorts: container.ports.map((p: Obj) => p.containerPort),
    csiDriverName: csi.spec.template.spec.containers[0].args[5],
  };
}

const within = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

describe("an installation's claims on the nodes", () => {
  it("the default installation (namespace spire) keeps the well-known socket directory and ports", () => {
    const s = spireSettings({ trustDomain, telemetry });
    assert.deepEqual(
      [s.agentSocketPath, s.agentHealthPort, s.telemetry?.agentPort],
      ["/run/spire/sockets/agent.sock", 9982, 9988],
    );
  });

  it("two installations on defaults in different namespaces share no directory, port or driver", () => {
    const claims = ["spire", "identity", "sockets", "team-a", "team-b"].map((namespace) =>
      nodeClaims(spireSettings({ trustDomain, namespace, telemetry })),
    );
    for (const [i, a] of claims.entries()) {
      for (const b of claims.slice(i + 1)) {
        assert.ok(
          !within(a.agentSocketDir, b.agentSocketDir) && !within(b.agentSocketDir, a.agentSocketDir),
          `${a.agentSocketDir} and ${b.agentSocketDir} overlap`,
        );
        assert.deepEqual(
          a.hostPorts.filter((p: number) => b.hostPorts.includes(p)),
          [],
          `${a.agentSocketDir} and ${b.agentSocketDir} share a host port`,
        );
        assert.notEqual(a.csiDriverName, b.csiDriverName);
      }
    }
  });

  it("derived ports stay in 20000-29999 as a health and telemetry pair, and the derivation is stable", () => {
    for (let i = 0; i < 500; i++) {
      const { agentHealthPort, agentTelemetryPort } = agentHostClaims(`ns-${i}`);
      assert.ok(agentHealthPort >= 20000 && agentTelemetryPort <= 29999, `ns-${i}: ${agentHealthPort}`);
      assert.equal(agentTelemetryPort, agentHealthPort + 1);
    }
    // Pinned: a different derivation would move every non-default installation's ports on upgrade.
    assert.deepEqual(agentHostClaims("identity"), {
      agentSocketDir: "/run/spire/ns/identity",
      agentHealthPort: 29910,
      agentTelemetryPort: 29911,
    });
  });

  it("every consumer of the socket directory and ports reads the installation's, and the agent claims its ports as hostPorts", () => {
    for (const args of [
      { namespace: "identity" },
      { namespace: "identity", agentSocketDir: "/var/run/other", agentHealthPort: 9999 },
    ]) {
      const s = spireSettings({ trustDomain, telemetry, ...args });
      const c = nodeClaims(s);
      assert.equal(c.agentSocketDir, s.agentSocketDir);
      assert.equal(c.agentMountPath, s.agentSocketDir);
      assert.equal(c.csiSocketDir, s.agentSocketDir);
      assert.equal(s.agentSocketPath, `${s.agentSocketDir}/agent.sock`);
      assert.equal(c.csiDriverName, s.csiDriverName);
      assert.deepEqual(c.hostPorts, [s.agentHealthPort, s.telemetry?.agentPort]);
      assert.deepEqual(
        c.hostPorts,
        c.containerPorts,
        "on the host network a hostPort must equal its containerPort",
      );
    }
  });
});

describe("an adopted SPIRE (existing)", () => {
  const existing = { namespace: "spire", serverPod: "spire-server-0" };

  it("reaches its agents through the SPIFFE CSI driver csi.spiffe.io unless hostPath is chosen", () => {
    const s = spireSettings({ trustDomain, existing: { ...existing, kubernetesVersion: "1.33" } });
    assert.deepEqual([s.workloadApi, s.csiDriverName], ["csi", "csi.spiffe.io"]);
    const chosen = spireSettings({
      trustDomain,
      existing: { ...existing, kubernetesVersion: "1.33", workloadApi: "hostPath" },
    });
    assert.equal(chosen.workloadApi, "hostPath");
  });

  it("accepts a cluster from 1.29 on, in the forms kubectl and EKS print", () => {
    for (const kubernetesVersion of ["1.29", "v1.29.0", "v1.29.8-eks-a737599", "1.33.1+k3s1", "1.100"]) {
      assert.equal(
        spireSettings({ trustDomain, existing: { ...existing, kubernetesVersion } }).mode,
        "existing",
      );
    }
  });
});
