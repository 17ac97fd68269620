/** SpireInstallation as the dev stack renders it, against the walkthrough's spire_setup.yaml ported to 1.13. */
import assert from "node:assert/strict";
import {
  baseName,
  findObject,
  kubernetesObjects,
  mountedConfigMap,
  renderStack,
  resourcesOfType,
} from "../support/render";

const installType = "spire-mesh:index:SpireInstallation";

describe("SpireInstallation (dev stack render)", () => {
  it("creates the walkthrough's objects in namespace spire", async () => {
    const r = await renderStack("dev");
    const names = kubernetesObjects(r)
      .filter(
        (o) => o.metadata.namespace === "spire" || (o.kind === "Namespace" && o.metadata.name === "spire"),
      )
      .map((o) => `${o.kind}/${baseName(o.metadata.name)}`)
      .sort();
    assert.deepEqual(names, [
      "ConfigMap/spire-agent",
      "ConfigMap/spire-bundle",
      "ConfigMap/spire-server",
      "DaemonSet/spiffe-csi-driver",
      "DaemonSet/spire-agent",
      "Namespace/spire",
      "NetworkPolicy/default-deny",
      "NetworkPolicy/spire-server",
      "PersistentVolumeClaim/spire-server-data",
      "Role/spire-server-configmap-role",
      "RoleBinding/spire-server-configmap-role-binding",
      "Service/spire-server",
      "ServiceAccount/spiffe-csi-driver",
      "ServiceAccount/spire-agent",
      "ServiceAccount/spire-server",
      "StatefulSet/spire-server",
    ]);
  });

  it("names its cluster-scoped objects after its namespace, so two installations share a cluster", async () => {
    const clusterScoped = async (overrides: Record<string, string>) =>
      kubernetesObjects(await renderStack("dev", overrides))
        .filter((o) => ["ClusterRole", "ClusterRoleBinding", "CSIDriver"].includes(o.kind))
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort();
    const one = await clusterScoped({});
    assert.deepEqual(one, [
      "CSIDriver/spire.csi.spiffe.io",
      "ClusterRole/spire-spire-agent-cluster-role",
      "ClusterRole/spire-spire-server-trust-role",
      "ClusterRoleBinding/spire-spire-agent-cluster-role-binding",
      "ClusterRoleBinding/spire-spire-server-trust-role-binding",
    ]);
    const other = await clusterScoped({ spireNamespace: "spire-staging", appNamespace: "staging" });
    assert.deepEqual(
      other.filter((name) => one.includes(name)),
      [],
    );
  });

  it("every child is parented to the component and named after it", async () => {
    const r = await renderStack("dev");
    const [component] = resourcesOfType(r, installType);
    const children = r.resources.filter((x) => x.parent === component.urn);
    assert.equal(children.length, 21);
    for (const child of children) assert.match(child.name, /^spire-/);
  });

  it("server: StatefulSet spire-server with pod spire-server-0, sqlite and keys on a claimed volume", async () => {
    const r = await renderStack("dev", { spireStorageSize: "5Gi", spireStorageClass: "gp3" });
    const sts = findObject(r, "StatefulSet", "spire-server", "spire");
    assert.equal(sts.spec.replicas, 1);
    assert.equal(sts.spec.serviceName, "spire-server");
    // A claim of its own, not a volumeClaimTemplate: replacing the StatefulSet never touches the data.
    assert.equal(sts.spec.volumeClaimTemplates, undefined);
    const pod = sts.spec.template.spec;
    const volume = pod.volumes.find((v: { name: string }) => v.name === "spire-data");
    assert.deepEqual(volume.persistentVolumeClaim, { claimName: "spire-server-data" });
    const claim = findObject(r, "PersistentVolumeClaim", "spire-server-data", "spire");
    assert.equal(claim.spec.storageClassName, "gp3");
    assert.equal(claim.spec.resources.requests.storage, "5Gi");
    const [container] = pod.containers;
    assert.equal(container.name, "spire-server");
    assert.equal(container.image, "ghcr.io/spiffe/spire-server:1.13.3");
    assert.deepEqual(container.args, ["-config", "/run/spire/config/server.conf"]);
    const dataMount = container.volumeMounts.find((m: { name: string }) => m.name === "spire-data");
    assert.equal(dataMount.mountPath, "/run/spire/data", "the datastore and keys.json must be on the claim");
    assert.equal(pod.serviceAccountName, "spire-server");
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
  });

  it("server and agent probe SPIRE's health listener on the port its config opens", async () => {
    const r = await renderStack("dev");
    for (const [kind, name, conf] of [
      ["StatefulSet", "spire-server", "server.conf"],
      ["DaemonSet", "spire-agent", "agent.conf"],
    ] as const) {
      const [container] = findObject(r, kind, name, "spire").spec.template.spec.containers;
      const text = mountedConfigMap(r, kind, name, "spire", "spire-config").data[conf] as string;
      const port = /health_checks \{[^}]*bind_port = "(\d+)"/s.exec(text)?.[1];
      const named = container.ports.find(
        (p: { name: string }) => p.name === container.livenessProbe.httpGet.port,
      );
      assert.equal(String(named.containerPort), port);
      assert.equal(container.livenessProbe.httpGet.path, "/live");
      assert.equal(container.readinessProbe.httpGet.path, "/ready");
    }
  });

  it("agent: DaemonSet with hostPID, hostNetwork, ClusterFirstWithHostNet and the socket hostPath", async () => {
    const r = await renderStack("dev");
    const pod = findObject(r, "DaemonSet", "spire-agent", "spire").spec.template.spec;
    assert.equal(pod.hostPID, true);
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, "ClusterFirstWithHostNet");
    assert.equal(pod.serviceAccountName, "spire-agent");
    const socket = pod.volumes.find((v: { hostPath?: unknown }) => v.hostPath);
    assert.deepEqual(socket.hostPath, { path: "/run/spire/sockets", type: "DirectoryOrCreate" });
    assert.equal(pod.priorityClassName, "system-node-critical");
    // On the host network its health listener is loopback-only, and the kubelet probes it there.
    const [container] = pod.containers;
    assert.equal(container.readinessProbe.httpGet.host, "127.0.0.1");
    assert.equal(container.livenessProbe.httpGet.host, "127.0.0.1");
    const token = pod.volumes.find((v: { projected?: unknown }) => v.projected).projected.sources[0]
      .serviceAccountToken;
    assert.equal(token.audience, "spire-server", "k8s_psat's default audience");
    const bundle = pod.volumes.find(
      (v: { configMap?: { name: string } }) => v.configMap?.name === "spire-bundle",
    );
    assert.ok(bundle, "agents read the trust bundle from the k8sbundle ConfigMap");
  });

  it("pods roll when their config changes", async () => {
    const annotation = (r: Awaited<ReturnType<typeof renderStack>>, kind: string, name: string) =>
      findObject(r, kind, name, "spire").spec.template.metadata.annotations["spire-mesh.io/config-hash"];
    const before = await renderStack("dev");
    const after = await renderStack("dev", { svidTtl: "30m" });
    assert.notEqual(
      annotation(before, "StatefulSet", "spire-server"),
      annotation(after, "StatefulSet", "spire-server"),
    );
    assert.equal(
      annotation(before, "DaemonSet", "spire-agent"),
      annotation(after, "DaemonSet", "spire-agent"),
    );
  });

  it("RBAC: the server's k8s_psat calls and the agent's kubelet pod list, nothing else", async () => {
    // Server: k8s_psat's TokenReview, then the agent's pod and node. Agent: its k8s workload attestor's GET /pods
    // on the kubelet, which fine-grained kubelet authorization checks as nodes/pods (never nodes/proxy).
    const allowed = new Set([
      "Role spire/configmaps get",
      "Role spire/configmaps patch",
      "ClusterRole spire-spire-server-trust-role authentication.k8s.io/tokenreviews create",
      "ClusterRole spire-spire-server-trust-role /pods get",
      "ClusterRole spire-spire-server-trust-role /nodes get",
      "ClusterRole spire-spire-agent-cluster-role /nodes/pods get",
    ]);
    const grants = (r: Awaited<ReturnType<typeof renderStack>>) =>
      kubernetesObjects(r)
        .filter((o) => o.kind === "Role" || o.kind === "ClusterRole")
        .flatMap((role) =>
          role.rules.flatMap((rule: { apiGroups: string[]; resources: string[]; verbs: string[] }) =>
            rule.apiGroups.flatMap((group) =>
              rule.resources.flatMap((resource) =>
                rule.verbs.map((verb) =>
                  role.kind === "Role"
                    ? `Role ${role.metadata.namespace}/${resource} ${verb}`
                    : `ClusterRole ${role.metadata.name} ${group}/${resource} ${verb}`,
                ),
              ),
            ),
          ),
        );
    const r = await renderStack("dev");
    assert.deepEqual(new Set(grants(r)), allowed);
    const configmapRole = findObject(r, "Role", "spire-server-configmap-role", "spire");
    assert.deepEqual(configmapRole.rules[0].resourceNames, ["spire-bundle"], "only the bundle ConfigMap");
    // The legacy switch adds nodes/proxy for clusters without fine-grained kubelet authorization, and only it.
    const legacy = new Set(grants(await renderStack("dev", { spireLegacyNodesProxyGrant: "true" })));
    assert.deepEqual(
      [...legacy].filter((g) => !allowed.has(g)),
      ["ClusterRole spire-spire-agent-cluster-role /nodes/proxy get"],
    );
  });

  it("the legacy nodes/proxy switch is refused with spire=existing, named by its config key", async () => {
    await assert.rejects(
      renderStack("dev", {
        spire: "existing",
        spireExistingNamespace: "spire",
        spireExistingServerPod: "spire-server-0",
        spireExistingKubernetesVersion: "1.33",
        spireLegacyNodesProxyGrant: "true",
      }),
      (e: Error & { cause?: Error }) =>
        /spireLegacyNodesProxyGrant = true: only applies when spire=install/.test((e.cause ?? e).message),
    );
  });

  it("bundle ConfigMap spire-bundle starts empty for the k8sbundle notifier to fill", async () => {
    const r = await renderStack("dev");
    const bundle = findObject(r, "ConfigMap", "spire-bundle", "spire");
    assert.equal(bundle.data, undefined);
  });

  it("outputs the exec prefix, socket, trust domain and bundle ConfigMap", async () => {
    const { outputs } = await renderStack("dev");
    assert.equal(
      (outputs.spireServerExecPrefix as string[]).join(" "),
      "kubectl exec -i -n spire spire-server-0 -c spire-server -- /opt/spire/bin/spire-server",
    );
    assert.equal(outputs.spireServerPod, "spire-server-0");
    assert.equal(outputs.spireNamespace, "spire");
    assert.equal(outputs.agentSocketPath, "/run/spire/sockets/agent.sock");
    assert.equal(outputs.trustDomainId, "spiffe://howto-k8s-mtls-sds-based.aws");
    assert.equal(outputs.bundleConfigMap, "spire-bundle");
  });

  it("existing SPIRE: installs nothing and exposes the same outputs", async () => {
    const r = await renderStack("dev", {
      spire: "existing",
      spireExistingNamespace: "identity",
      spireExistingServerPod: "server-1",
      spireExistingServerContainer: "server",
      spireExistingAgentSocketPath: "/run/spire/agent-sockets/api.sock",
      spireExistingKubernetesVersion: "1.33",
    });
    assert.deepEqual(
      kubernetesObjects(r).filter((o) => o.metadata.namespace === "identity" || o.metadata.name === "spire"),
      [],
    );
    const [component] = resourcesOfType(r, installType);
    assert.equal(r.resources.filter((x) => x.parent === component.urn).length, 0);
    assert.equal(
      (r.outputs.spireServerExecPrefix as string[]).join(" "),
      "kubectl exec -i -n identity server-1 -c server -- /opt/spire/bin/spire-server",
    );
    assert.equal(r.outputs.agentSocketPath, "/run/spire/agent-sockets/api.sock");
    assert.equal(r.outputs.spireNamespace, "identity");
  });
});
