/**
 * MeshWorkload puts pods into a namespace it does not create, so it cannot label that namespace with a Pod
 * Security level. When the namespace is not created in the same program either (no Namespace of that name among
 * the workload's dependsOn), nobody in this program can: a preview warning says which label to set, once per
 * namespace and installation.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DataPlane } from "../mesh/envoySidecar";
import type { WorkloadApi } from "../spire/installationArgs";
import type { SpireInstallation } from "./spireInstallation";

export const POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce";

const noticed = new WeakMap<SpireInstallation, Set<string>>();

/** The level the workload's pods meet, and why no lower one. */
export function podSecurityLevel(dataPlane: DataPlane, workloadApi: WorkloadApi): string {
  if (dataPlane === DataPlane.AppMesh)
    return "privileged (App Mesh's injector adds an init container with NET_ADMIN and mounts a hostPath)";
  if (workloadApi === "hostPath")
    return "privileged (the agent socket is a hostPath volume; with workloadApi csi its pods meet restricted)";
  return "restricted (its pods meet it: the agent socket comes through the CSI driver)";
}

/** The Namespaces given plainly in `dependsOn` (an Output of resources cannot be looked into). */
function namespacesIn(dependsOn: pulumi.ComponentResourceOptions["dependsOn"]): k8s.core.v1.Namespace[] {
  const given = Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : [];
  return given.filter((r): r is k8s.core.v1.Namespace => k8s.core.v1.Namespace.isInstance(r));
}

/** Warns (on `owner`) unless this namespace was seen before or a Namespace of that name is among `dependsOn`. */
export function warnUnlabelledNamespace(
  owner: pulumi.Resource,
  subject: string,
  installation: SpireInstallation,
  namespace: string,
  level: string,
  dependsOn: pulumi.ComponentResourceOptions["dependsOn"],
): void {
  const seen = noticed.get(installation) ?? new Set<string>();
  noticed.set(installation, seen);
  if (seen.has(namespace)) return;
  seen.add(namespace);
  const names = namespacesIn(dependsOn).map((ns) => ns.metadata.name);
  pulumi.all(names).apply((created) => {
    if (created.includes(namespace)) return;
    pulumi.log.warn(
      `${subject}: namespace ${namespace} is not created in this program, so nothing here sets its Pod ` +
        `Security level: label it ${POD_SECURITY_ENFORCE}=${level}`,
      owner,
    );
  });
}
