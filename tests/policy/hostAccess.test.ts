/**
 * host-access-agent-only: the agent DaemonSet (and the CSI driver) may touch the host; meshed workloads may
 * only read the agent's socket directory; anything else is reported, field by field.
 */
import assert from "node:assert/strict";
import { HOST_ACCESS } from "../../policy/policies";
import { hostAccessPolicy } from "../../policy/rules/hostAccess";
import { runResourcePolicy, type TestResource, testResource, UNKNOWN } from "../../policy/testing";

const DESCRIPTION = hostAccessPolicy.description;
const RULE =
  "host access is reserved to allowedWorkloads (DaemonSet/spire/spire-agent@spire-mesh:index:SpireInstallation, " +
  "DaemonSet/spire/spiffe-csi-driver@spire-mesh:index:SpireInstallation)";

/** The component SpireInstallation registers, which owns the agent and CSI driver DaemonSets. */
const installation = testResource("spire-mesh:index:SpireInstallation", "spire", {});

const workload = (
  kind: string,
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: pod specs are written loosely.
  pod: any,
  { namespace = "spire", parent = undefined as TestResource | undefined } = {},
) =>
  testResource(
    `kubernetes:apps/v1:${kind}`,
    `${name}-${kind.toLowerCase()}`,
    {
      metadata: { name, namespace },
      spec: {
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: pod },
      },
    },
    { parent },
  );

const agentPod = {
  hostPID: true,
  hostNetwork: true,
  containers: [
    {
      name: "spire-agent",
      image: "ghcr.io/spiffe/spire-agent:1.13.3",
      volumeMounts: [{ name: "spire-agent-socket", mountPath: "/run/spire/sockets" }],
    },
  ],
  volumes: [
    { name: "spire-agent-socket", hostPath: { path: "/run/spire/sockets", type: "DirectoryOrCreate" } },
  ],
};

const meshedPod = (readOnly: boolean) => ({
  containers: [
    { name: "app", image: "node:20-alpine" },
    {
      name: "envoy",
      image: "envoyproxy/envoy:v1.34.13",
      volumeMounts: [{ name: "spire-agent-socket", mountPath: "/run/spire/sockets", readOnly }],
    },
  ],
  volumes: [{ name: "spire-agent-socket", hostPath: { path: "/run/spire/sockets", type: "Directory" } }],
});

const messages = async (...args: Parameters<typeof runResourcePolicy>) =>
  (await runResourcePolicy(...args)).map((v) => v.message);

describe(`policy ${HOST_ACCESS}`, () => {
  it("passes the SPIRE agent DaemonSet, the CSI driver, and a meshed Deployment reading the socket directory", async () => {
    assert.deepEqual(
      await runResourcePolicy(
        hostAccessPolicy,
        workload("DaemonSet", "spire-agent", agentPod, { parent: installation }),
      ),
      [],
    );
    const csi = { containers: [{ name: "driver", image: "x:1", securityContext: { privileged: true } }] };
    assert.deepEqual(
      await runResourcePolicy(
        hostAccessPolicy,
        workload("DaemonSet", "spiffe-csi-driver", csi, { parent: installation }),
      ),
      [],
    );
    assert.deepEqual(
      await runResourcePolicy(hostAccessPolicy, workload("Deployment", "front", meshedPod(true))),
      [],
    );
  });

  it("fails the same host access on any other workload, one message per field", async () => {
    const rogue = {
      ...agentPod,
      hostIPC: true,
      initContainers: [{ name: "setup", image: "busybox:1.36", securityContext: { privileged: true } }],
      volumes: [...agentPod.volumes, { name: "docker", hostPath: { path: "/var/run/docker.sock" } }],
    };
    const path = "spec.template.spec";
    assert.deepEqual(await messages(hostAccessPolicy, workload("DaemonSet", "log-shipper", rogue)), [
      `${DESCRIPTION}\nDaemonSet spire/log-shipper: ${path}.hostPID = true: ${RULE}`,
      `${DESCRIPTION}\nDaemonSet spire/log-shipper: ${path}.hostNetwork = true: ${RULE}`,
      `${DESCRIPTION}\nDaemonSet spire/log-shipper: ${path}.hostIPC = true: ${RULE}`,
      `${DESCRIPTION}\nDaemonSet spire/log-shipper: ${path}.initContainers[0] (setup) securityContext.privileged = true: ${RULE}`,
      `${DESCRIPTION}\nDaemonSet spire/log-shipper: ${path}.volumes[0] (spire-agent-socket) hostPath.path = ` +
        '"/run/spire/sockets" is mounted writable in containers[0] (spire-agent): outside allowedWorkloads a ' +
        "Workload API socket directory may only be mounted readOnly: true",
      `${DESCRIPTION}\nDaemonSet spire/log-shipper: ${path}.volumes[1] (docker) hostPath.path = "/var/run/docker.sock": ${RULE}`,
    ]);
  });

  it("matches the allow-list by kind and name: a Deployment named spire-agent gets no pass", async () => {
    assert.deepEqual(
      await messages(
        hostAccessPolicy,
        workload("Deployment", "spire-agent", { hostPID: true }, { parent: installation }),
      ),
      [`${DESCRIPTION}\nDeployment spire/spire-agent: spec.template.spec.hostPID = true: ${RULE}`],
    );
  });

  it("matches the allow-list by namespace and owner: a spire-agent DaemonSet elsewhere gets no pass", async () => {
    const pod = { hostPID: true, containers: [] };
    const elsewhere = workload("DaemonSet", "spire-agent", pod, { namespace: "shop", parent: installation });
    assert.deepEqual(await messages(hostAccessPolicy, elsewhere), [
      `${DESCRIPTION}\nDaemonSet shop/spire-agent: spec.template.spec.hostPID = true: ${RULE}`,
    ]);
    const unowned = workload("DaemonSet", "spire-agent", pod);
    assert.deepEqual(await messages(hostAccessPolicy, unowned), [
      `${DESCRIPTION}\nDaemonSet spire/spire-agent: spec.template.spec.hostPID = true: ${RULE}`,
    ]);
    const otherOwner = testResource("acme:index:Logging", "logging", {});
    const wrongOwner = workload("DaemonSet", "spire-agent", pod, { parent: otherOwner });
    assert.deepEqual(await messages(hostAccessPolicy, wrongOwner), [
      `${DESCRIPTION}\nDaemonSet spire/spire-agent: spec.template.spec.hostPID = true: ${RULE}`,
    ]);
    // The bare `Kind/name` form the pack once took matches nothing now (its config schema refuses it too).
    assert.deepEqual(
      (await messages(hostAccessPolicy, unowned, { allowedWorkloads: ["DaemonSet/spire-agent"] })).length,
      1,
    );
  });

  it("fails added capabilities beyond the runtime's defaults, host ports and an unmasked /proc", async () => {
    const pod = {
      containers: [
        {
          name: "net",
          image: "x:1",
          ports: [{ containerPort: 8080 }, { containerPort: 9090, hostPort: 9090 }],
          securityContext: { capabilities: { add: ["NET_BIND_SERVICE", "NET_ADMIN", "CAP_SYS_ADMIN"] } },
        },
      ],
      initContainers: [{ name: "proc", image: "x:1", securityContext: { procMount: "Unmasked" } }],
    };
    const path = "spec.template.spec";
    assert.deepEqual(await messages(hostAccessPolicy, workload("Deployment", "edge", pod)), [
      `${DESCRIPTION}\nDeployment spire/edge: ${path}.initContainers[0] (proc) securityContext.procMount = "Unmasked": ${RULE}`,
      `${DESCRIPTION}\nDeployment spire/edge: ${path}.containers[0] (net) securityContext.capabilities.add = ["NET_ADMIN","CAP_SYS_ADMIN"]: ${RULE}`,
      `${DESCRIPTION}\nDeployment spire/edge: ${path}.containers[0] (net) ports[1].hostPort = 9090: ${RULE}`,
    ]);
    const harmless = {
      containers: [
        {
          name: "web",
          image: "x:1",
          ports: [{ containerPort: 80, hostPort: 0 }],
          securityContext: { procMount: "Default", capabilities: { add: ["NET_BIND_SERVICE"] } },
        },
      ],
    };
    assert.deepEqual(await runResourcePolicy(hostAccessPolicy, workload("Deployment", "web", harmless)), []);
  });

  it("fails a meshed workload that mounts the socket directory writable", async () => {
    assert.deepEqual(await messages(hostAccessPolicy, workload("Deployment", "front", meshedPod(false))), [
      `${DESCRIPTION}\nDeployment spire/front: spec.template.spec.volumes[0] (spire-agent-socket) hostPath.path = ` +
        '"/run/spire/sockets" is mounted writable in containers[1] (envoy): outside allowedWorkloads a Workload API ' +
        "socket directory may only be mounted readOnly: true",
    ]);
  });

  it("takes allowedWorkloads and workloadApiSocketDirs from config, with namespaces", async () => {
    const config = {
      allowedWorkloads: ["DaemonSet/spire/node-agent"],
      workloadApiSocketDirs: ["/var/run/spire"],
    };
    assert.deepEqual(
      await runResourcePolicy(hostAccessPolicy, workload("DaemonSet", "node-agent", agentPod), config),
      [],
    );
    const socketFile = {
      containers: [
        { name: "app", image: "a:1", volumeMounts: [{ name: "s", mountPath: "/s", readOnly: true }] },
      ],
      volumes: [{ name: "s", hostPath: { path: "/var/run/spire/agent.sock", type: "Socket" } }],
    };
    assert.deepEqual(
      await runResourcePolicy(hostAccessPolicy, workload("Deployment", "api", socketFile), config),
      [],
    );
    assert.deepEqual(
      await messages(hostAccessPolicy, workload("DaemonSet", "spire-agent", agentPod), config),
      [
        `${DESCRIPTION}\nDaemonSet spire/spire-agent: spec.template.spec.hostPID = true: host access is reserved to allowedWorkloads (DaemonSet/spire/node-agent)`,
        `${DESCRIPTION}\nDaemonSet spire/spire-agent: spec.template.spec.hostNetwork = true: host access is reserved to allowedWorkloads (DaemonSet/spire/node-agent)`,
        `${DESCRIPTION}\nDaemonSet spire/spire-agent: spec.template.spec.volumes[0] (spire-agent-socket) hostPath.path = "/run/spire/sockets": host access is reserved to allowedWorkloads (DaemonSet/spire/node-agent)`,
      ],
    );
  });

  it("finds pod specs of Pods, Jobs and CronJobs", async () => {
    const pod = testResource("kubernetes:core/v1:Pod", "debug", {
      metadata: { name: "debug", namespace: "default" },
      spec: { hostNetwork: true, containers: [{ name: "sh", image: "busybox:1.36" }] },
    });
    const cron = testResource("kubernetes:batch/v1:CronJob", "nightly", {
      metadata: { name: "nightly", namespace: "ops" },
      spec: {
        schedule: "@daily",
        jobTemplate: { spec: { template: { spec: { hostPID: true, containers: [] } } } },
      },
    });
    assert.deepEqual(await messages(hostAccessPolicy, pod), [
      `${DESCRIPTION}\nPod default/debug: spec.hostNetwork = true: ${RULE}`,
    ]);
    assert.deepEqual(await messages(hostAccessPolicy, cron), [
      `${DESCRIPTION}\nCronJob ops/nightly: spec.jobTemplate.spec.template.spec.hostPID = true: ${RULE}`,
    ]);
  });

  it("finds pod specs in Patch resources and in custom resources with a pod template", async () => {
    const patch = testResource("kubernetes:apps/v1:DaemonSetPatch", "agent-patch", {
      metadata: { name: "spire-agent", namespace: "spire" },
      spec: { template: { spec: { hostIPC: true } } },
    });
    const rollout = testResource("kubernetes:argoproj.io/v1alpha1:Rollout", "web", {
      metadata: { name: "web", namespace: "shop" },
      spec: { template: { spec: { hostNetwork: true, containers: [] } } },
    });
    const task = testResource("kubernetes:ops.example.com/v1:NightlyTask", "nightly", {
      metadata: { name: "nightly", namespace: "ops" },
      spec: { jobTemplate: { spec: { template: { spec: { hostPID: true } } } } },
    });
    assert.deepEqual(await messages(hostAccessPolicy, patch), [
      `${DESCRIPTION}\nDaemonSetPatch spire/spire-agent: spec.template.spec.hostIPC = true: ${RULE}`,
    ]);
    assert.deepEqual(await messages(hostAccessPolicy, rollout), [
      `${DESCRIPTION}\nRollout shop/web: spec.template.spec.hostNetwork = true: ${RULE}`,
    ]);
    assert.deepEqual(await messages(hostAccessPolicy, task), [
      `${DESCRIPTION}\nNightlyTask ops/nightly: spec.jobTemplate.spec.template.spec.hostPID = true: ${RULE}`,
    ]);
    // The agent's own DaemonSetPatch, from its installation, is the agent.
    const ownPatch = testResource("kubernetes:apps/v1:DaemonSetPatch", "agent-patch", patch.props, {
      parent: installation,
    });
    assert.deepEqual(await runResourcePolicy(hostAccessPolicy, ownPatch), []);
  });

  it("skips values unknown during preview", async () => {
    const unknownName = workload("DaemonSet", "x", { hostPID: true });
    unknownName.props.metadata.name = UNKNOWN;
    assert.deepEqual(await runResourcePolicy(hostAccessPolicy, unknownName), []);
    const unknownPath = workload("Deployment", "y", {
      containers: [],
      volumes: [{ name: "v", hostPath: { path: UNKNOWN } }],
    });
    assert.deepEqual(await runResourcePolicy(hostAccessPolicy, unknownPath), []);
  });
});
