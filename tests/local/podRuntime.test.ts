/**
 * What the loopback cluster's host kubelet takes from the rendered spire-server pod (local/cluster/podRuntime.ts):
 * identity, read-only mounts and readiness probe come from the spec, and what it does not model is refused.
 */
import * as assert from "node:assert/strict";
import { podListenerPorts } from "../../local/cluster/hostServerConfig";
import { confinedArgv, readinessTarget, runAsOf } from "../../local/cluster/podRuntime";
import { kubernetesObjects, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: manifests are read loosely.
type Obj = any;

describe("host kubelet: the server pod's spec decides how its process runs", () => {
  let pod: Obj;
  let container: Obj;
  let serverConf: string;

  before(async () => {
    const objects = kubernetesObjects(await renderStack("dev"));
    const set = objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "spire-server");
    pod = { metadata: { namespace: "spire", name: "spire-server-0" }, spec: set?.spec.template.spec };
    container = pod.spec.containers[0];
    const config = objects.find((o) => o.kind === "ConfigMap" && o.data?.["server.conf"]);
    serverConf = config?.data["server.conf"];
  });

  const clone = (o: Obj) => JSON.parse(JSON.stringify(o));

  it("runs as the rendered runAsUser, runAsGroup and fsGroup; the container's fields win over the pod's", () => {
    const { runAsUser, runAsGroup, fsGroup } = pod.spec.securityContext;
    assert.deepEqual(runAsOf(pod, container), { uid: runAsUser, gid: runAsGroup, fsGroup });
    const overridden = { ...container, securityContext: { ...container.securityContext, runAsUser: 4242 } };
    assert.equal(runAsOf(pod, overridden).uid, 4242);
    assert.deepEqual(
      confinedArgv(["spire-server", "run"], { uid: 7, gid: 8, fsGroup: 9 }, ["/ro"]).slice(-9),
      ["/ro", "--", "setpriv", "--reuid=7", "--regid=8", "--groups=9", "--", "spire-server", "run"],
    );
  });

  it("refuses an identity it cannot know or a kubelet would refuse", () => {
    const unset = clone(pod);
    delete unset.spec.securityContext.runAsUser;
    assert.throws(
      () => runAsOf(unset, container),
      /spire\/spire-server-0: securityContext.runAsUser = undefined/,
    );
    const root = clone(pod);
    root.spec.securityContext.runAsUser = 0;
    assert.throws(() => runAsOf(root, container), /runAsUser = 0 with runAsNonRoot = true/);
  });

  it("probes the rendered readiness path on the host port of the listener its port names", async () => {
    const inPod = await podListenerPorts(serverConf);
    assert.ok(inPod.healthPort, "the rendered config enables the health listener");
    const ports = new Map([
      [inPod.bindPort, 40001],
      [inPod.healthPort, 40002],
    ]);
    assert.deepEqual(readinessTarget(pod, container, ports), { url: "http://127.0.0.1:40002/ready" });
    // A probe naming a port no listener of the pod holds fails, as it would in the pod.
    const elsewhere = clone(container);
    elsewhere.readinessProbe.httpGet.port = 9999;
    assert.deepEqual(readinessTarget(pod, elsewhere, ports), {
      unreachable: "nothing in the pod listens on port 9999",
    });
    const exec = { ...container, readinessProbe: { exec: { command: ["true"] } } };
    assert.throws(() => readinessTarget(pod, exec, ports), /readinessProbe exec: only httpGet is modelled/);
    const unnamed = clone(container);
    unnamed.readinessProbe.httpGet.port = "nope";
    assert.throws(() => readinessTarget(pod, unnamed, ports), /port = "nope" names no container port/);
  });
});
