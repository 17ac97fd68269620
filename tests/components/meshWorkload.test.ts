/**
 * MeshWorkload keeps a service's pieces consistent: the entry's selectors are read back from the Deployment it
 * registered (namespace, account, labels, the sidecar's container), callers and servers follow the graph, and
 * bad arguments fail before anything of the bad workload is registered.
 */
import assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import {
  ColorApp,
  DataPlane,
  MeshWorkload,
  type MeshWorkloadArgs,
  SpireInstallation,
  TlsMode,
} from "../../components";
import { ValidationError } from "../../core/validation";
import { isKubernetesObject, kubernetesObject } from "../../render/write";
import type { K8sObject } from "../../spire/k8s";
import { validateKubernetesObjects } from "../support/kubernetesSchema";
import { construct, outsideInstallation, walkthroughInstallation } from "../support/mocks";
import { baseName, type KubeObject } from "../support/render";

const app = (name = "app") => ({ name, image: "node:20-alpine", command: ["node", "/app/server.js"] });

const workload = (installation: SpireInstallation, name: string, args: Partial<MeshWorkloadArgs> = {}) =>
  new MeshWorkload(name, { namespace: "shop", installation, containers: [app()], ...args });

/** Builds workloads under one installation; gives the last one, the installation and what got registered. */
async function build(make: (installation: SpireInstallation) => MeshWorkload) {
  let installation: SpireInstallation | undefined;
  const recording = await construct(() => {
    installation = walkthroughInstallation();
    return make(installation);
  });
  assert.ok(recording.value instanceof MeshWorkload, String(recording.value));
  assert.ok(installation);
  const objects = outsideInstallation(recording.resources)
    .filter(isKubernetesObject)
    .map((r) => kubernetesObject(r) as KubeObject);
  const find = (kind: string, name: string) => {
    const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
    assert.equal(found.length, 1, `${kind}/${name}`);
    return found[0];
  };
  return { workload: recording.value, installation, objects, find, recording };
}

/** The one problem `make` must fail with, and proof that nothing named `bad…` was registered. */
async function problemOf(make: (installation: SpireInstallation) => unknown) {
  const { value, resources } = await construct(() => make(walkthroughInstallation()));
  assert.ok(value instanceof ValidationError, `expected a ValidationError, got ${String(value)}`);
  const registered = outsideInstallation(resources).filter((r) => r.name.startsWith("bad"));
  assert.deepEqual(registered, [], "nothing of the bad workload may be registered");
  assert.equal(value.problems.length, 1, value.message);
  return { ...value.problems[0], message: value.message };
}

/** The SPIFFE ID that a pod of this Deployment is given by default: its namespace and account. */
const podIdentity = (deployment: KubeObject) =>
  `spiffe://howto-k8s-mtls-sds-based.aws/ns/${deployment.metadata.namespace}/sa/${deployment.spec.template.spec.serviceAccountName}`;

describe("MeshWorkload", () => {
  describe("on the envoy data plane", () => {
    it("registers an entry whose selectors are exactly what the Deployment deploys, under the agents", async () => {
      const {
        workload: ledger,
        installation,
        find,
      } = await build((i) => workload(i, "ledger", { podLabels: { app: "ledger", tier: "data" } }));
      const deployment = find("Deployment", "ledger");
      const pod = deployment.spec.template;
      const sidecars = (pod.spec.initContainers ?? []).filter(
        (c: { restartPolicy?: string }) => c.restartPolicy === "Always",
      );
      assert.equal(sidecars.length, 1, "one native sidecar");
      const selectors = [
        `k8s:ns:${deployment.metadata.namespace}`,
        `k8s:sa:${pod.spec.serviceAccountName}`,
        ...Object.entries(pod.metadata.labels).map(([k, v]) => `k8s:pod-label:${k}:${v}`),
        `k8s:container-name:${sidecars[0].name}`,
      ];
      assert.deepEqual([...ledger.entry.selectors].sort(), selectors.sort());
      assert.equal(ledger.entry.parentId, installation.nodeAlias.spiffeId);
      assert.equal(ledger.identityValue, podIdentity(deployment));
    });

    it("creates the account (no token), a Service onto the sidecar and a NetworkPolicy, all schema-valid", async () => {
      const { objects, find } = await build((i) => workload(i, "ledger"));
      assert.deepEqual(objects.map((o) => `${o.kind}/${baseName(o.metadata.name)}`).sort(), [
        "ConfigMap/ledger-envoy",
        "Deployment/ledger",
        "NetworkPolicy/ledger",
        "Service/ledger",
        "ServiceAccount/ledger",
      ]);
      assert.equal(find("ServiceAccount", "ledger").automountServiceAccountToken, false);
      const [port] = find("Service", "ledger").spec.ports;
      const [sidecar] = find("Deployment", "ledger").spec.template.spec.initContainers;
      const sidecarPorts = sidecar.ports.map((p: { containerPort: number }) => p.containerPort);
      assert.ok(sidecarPorts.includes(port.targetPort), `targetPort ${port.targetPort} is the sidecar's`);
      validateKubernetesObjects(objects as unknown as K8sObject[]);
    });

    it("hardens the user's containers but keeps what the user set", async () => {
      const { find } = await build((i) =>
        workload(i, "ledger", { containers: [{ ...app(), securityContext: { runAsUser: 1234 } }] }),
      );
      const [container] = find("Deployment", "ledger").spec.template.spec.containers;
      assert.equal(container.securityContext.runAsUser, 1234);
      assert.equal(container.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(container.securityContext.capabilities, { drop: ["ALL"] });
    });

    it("outputs the names it deployed and a pod-name command that selects its pods", async () => {
      const { workload: ledger, find } = await build((i) => workload(i, "ledger", { serviceName: "books" }));
      const outputs = await new Promise<string[]>((resolve) =>
        ledger.deploymentName.apply((d) =>
          ledger.serviceName.apply((s) => ledger.podNameCommand.apply((p) => resolve([d, s, p]))),
        ),
      );
      const deployment = find("Deployment", outputs[0]);
      assert.equal(
        find("Service", outputs[1]).spec.selector.app,
        deployment.spec.template.metadata.labels.app,
      );
      const labels = Object.entries(deployment.spec.template.metadata.labels).map(([k, v]) => `${k}=${v}`);
      assert.ok(
        outputs[2].includes(`-n ${deployment.metadata.namespace} -l ${labels.join(",")}`),
        outputs[2],
      );
    });
  });

  describe("on the appmesh data plane", () => {
    it("leaves the sidecar to App Mesh's injector: no sidecar, a VirtualNode selecting its pods", async () => {
      const { find } = await build((i) => workload(i, "ledger", { dataPlane: DataPlane.AppMesh }));
      const deployment = find("Deployment", "ledger");
      assert.equal(deployment.spec.template.spec.initContainers, undefined);
      const node = find("VirtualNode", "ledger");
      assert.deepEqual(node.spec.podSelector.matchLabels, deployment.spec.template.metadata.labels);
      assert.equal(node.spec.listeners[0].portMapping.port, find("Service", "ledger").spec.ports[0].port);
    });
  });

  describe("the graph", () => {
    it("callers given as workloads make it STRICT with exactly their identities", async () => {
      const { workload: ledger, find } = await build((i) => {
        const web = workload(i, "web");
        const admin = workload(i, "admin", { serviceAccount: "operator" });
        return workload(i, "ledger", { callers: [web, admin] });
      });
      assert.equal(ledger.nodeArgs.tlsMode, TlsMode.Strict);
      assert.deepEqual(ledger.allowedCallers, [
        podIdentity(find("Deployment", "web")),
        podIdentity(find("Deployment", "admin")),
      ]);
    });

    it("its allowed servers are exactly the workloads behind its backends", async () => {
      const { workload: front, find } = await build((i) => {
        const frontId = "spiffe://howto-k8s-mtls-sds-based.aws/ns/shop/sa/front";
        const ledger = workload(i, "ledger", { callers: [frontId] });
        const v1 = workload(i, "pricing-v1", { callers: [frontId] });
        const v2 = workload(i, "pricing-v2", { callers: [frontId] });
        return workload(i, "front", {
          backends: [
            ledger,
            {
              virtualService: "pricing",
              routes: [
                { name: "beta", header: "x-beta", value: "1", target: v2 },
                { name: "stable", target: v1 },
              ],
            },
          ],
        });
      });
      assert.deepEqual(
        [...(front.nodeArgs.allowedServers ?? [])].sort(),
        ["ledger", "pricing-v1", "pricing-v2"].map((n) => podIdentity(find("Deployment", n))).sort(),
      );
      assert.equal(
        front.nodeArgs.tlsMode,
        undefined,
        "nothing calls front: its listener takes plain traffic",
      );
    });
  });

  describe("the Pod Security level of a namespace it does not create", () => {
    const notice = /is not created in this program, so nothing here sets its Pod Security level/;
    const notices = (warnings: readonly string[]) => warnings.filter((w) => notice.test(w));
    const namespace = (name: string) => new k8s.core.v1.Namespace(name, { metadata: { name } });

    it("warns once per namespace, naming the label to set and the level its pods meet", async () => {
      const { recording } = await build((i) => {
        workload(i, "web");
        workload(i, "api");
        return workload(i, "ledger", { namespace: "ledger" });
      });
      assert.deepEqual(notices(recording.warnings), [
        "MeshWorkload web: namespace shop is not created in this program, so nothing here sets its Pod Security " +
          "level: label it pod-security.kubernetes.io/enforce=restricted (its pods meet it: the agent socket " +
          "comes through the CSI driver)",
        "MeshWorkload ledger: namespace ledger is not created in this program, so nothing here sets its Pod " +
          "Security level: label it pod-security.kubernetes.io/enforce=restricted (its pods meet it: the agent " +
          "socket comes through the CSI driver)",
      ]);
    });

    it("says nothing of a namespace the program creates and the workload depends on", async () => {
      const { recording } = await build((i) => {
        const ledger = namespace("ledger");
        workload(i, "other", { namespace: "other" });
        return new MeshWorkload(
          "ledger",
          { namespace: "ledger", installation: i, containers: [app()] },
          { dependsOn: [ledger] },
        );
      });
      assert.deepEqual(
        notices(recording.warnings).map((w) => w.split(":")[0]),
        ["MeshWorkload other"],
        "the witness in namespace other is warned of, ledger is not",
      );
    });

    it("names privileged where the pods mount the agent socket by hostPath", async () => {
      const { warnings } = await construct(() => {
        const installation = new SpireInstallation("spire", {
          trustDomain: "howto-k8s-mtls-sds-based.aws",
          workloadApi: "hostPath",
        });
        return workload(installation, "web");
      });
      assert.deepEqual(
        notices(warnings).map((w) => w.split("=")[1]),
        ["privileged (the agent socket is a hostPath volume; with workloadApi csi its pods meet restricted)"],
      );
    });

    it("ColorApp creates and labels its namespace: no warning for its workloads", async () => {
      const { value, warnings } = await construct(() => {
        const installation = walkthroughInstallation();
        workload(installation, "witness", { namespace: "witness" });
        return new ColorApp("demo", { installation, namespace: "howto" });
      });
      assert.ok(value instanceof ColorApp, String(value));
      assert.deepEqual(
        notices(warnings).map((w) => w.split(":")[0]),
        ["MeshWorkload witness"],
        "only the witness outside the demo's namespace",
      );
    });
  });

  describe("bad input", () => {
    it("a second workload with the same name in the namespace", async () => {
      const p = await problemOf((i) => {
        workload(i, "ledger");
        return workload(i, "bad-ledger", { name: "ledger", serviceName: "other", entryName: "other" });
      });
      assert.equal(p.field, "name");
      assert.match(p.message, /name = "Deployment shop\/ledger"|name = "shop\/ledger"/);
      assert.match(p.rule, /already taken by MeshWorkload ledger/);
    });

    it("a caller that is neither a workload nor a SPIFFE ID", async () => {
      const p = await problemOf((i) => workload(i, "bad", { callers: ["front"] }));
      assert.equal(p.field, "callers[0]");
      // The SPIFFE ID rule every caller list shares (mesh/callers.ts).
      assert.match(p.message, /callers\[0\] = "front": .*must start with "spiffe:\/\/"/);
    });

    it("a local caller whose pods have no labels (its selector would admit the whole namespace)", async () => {
      const caller = {
        identity: "spiffe://howto-k8s-mtls-sds-based.aws/front",
        pods: { namespace: "shop", podLabels: {} },
      };
      const p = await problemOf((i) => workload(i, "bad", { callers: [caller] }));
      assert.equal(p.field, "callers[0].pods.podLabels");
      assert.match(p.rule, /at least one label/);
    });

    it("a local caller in a namespace that is not a Kubernetes name", async () => {
      const caller = {
        identity: "spiffe://howto-k8s-mtls-sds-based.aws/front",
        pods: { namespace: "Shop_1", podLabels: { app: "front" } },
      };
      const p = await problemOf((i) => workload(i, "bad", { callers: [caller] }));
      assert.equal(p.field, "callers[0].pods.namespace");
      assert.equal(p.value, "Shop_1");
    });

    it("a caller ID outside the trust domain", async () => {
      const p = await problemOf((i) => workload(i, "bad", { callers: ["spiffe://evil.example/front"] }));
      assert.equal(p.field, "callers[0]");
      assert.match(p.rule, /trust domain/);
    });

    it("an app port on the sidecar's ports (9901: the admin of App Mesh's injected Envoy)", async () => {
      for (const port of [15000, 15021, 9901]) {
        const p = await problemOf((i) => workload(i, "bad", { port }));
        assert.equal(p.field, "port");
        assert.match(p.rule, /clashes with the sidecar's ports/);
      }
      const p = await problemOf((i) =>
        workload(i, "bad", { containers: [{ ...app(), ports: [{ containerPort: 15000 }] }] }),
      );
      assert.equal(p.field, "containers[0].ports[0].containerPort");
    });

    it("an app container mounting the sidecar's admin socket volume", async () => {
      const mounting = { ...app(), volumeMounts: [{ name: "envoy-admin", mountPath: "/admin" }] };
      const p = await problemOf((i) => workload(i, "bad", { containers: [app("helper"), mounting] }));
      assert.deepEqual([p.field, p.value], ["containers[1].volumeMounts[0].name", "envoy-admin"]);
      assert.match(p.rule, /only Envoy may reach its admin interface/);
    });

    it("a user container named envoy", async () => {
      const p = await problemOf((i) => workload(i, "bad", { containers: [app("envoy")] }));
      assert.equal(p.field, "containers[0].name");
      assert.match(p.rule, /SPIRE gives the SVID to the container of that name/);
    });

    it("a backend that does not admit it", async () => {
      const p = await problemOf((i) => {
        const ledger = workload(i, "ledger", {
          callers: ["spiffe://howto-k8s-mtls-sds-based.aws/ns/shop/sa/web"],
        });
        return workload(i, "bad", { backends: [ledger] });
      });
      assert.equal(p.field, "backends[0]");
      assert.match(p.rule, /does not admit spiffe:\/\/howto-k8s-mtls-sds-based.aws\/ns\/shop\/sa\/bad/);
    });

    it("PERMISSIVE with callers (checked before registering, like every child's rule)", async () => {
      const p = await problemOf((i) =>
        workload(i, "bad", {
          tlsMode: TlsMode.Permissive,
          callers: ["spiffe://howto-k8s-mtls-sds-based.aws/x"],
        }),
      );
      assert.equal(p.field, "allowedCallers");
    });
  });
});
