/**
 * Registers a builder's plain Kubernetes object as the matching typed pulumi-kubernetes resource, so previews,
 * policies and the offline render all see real kinds. Objects of kinds without a typed class (App Mesh CRDs)
 * become CustomResources.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { K8sObject } from "../spire/k8s";

type KubernetesClass = new (
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: the typed classes share only their constructor shape.
  args: any,
  opts?: pulumi.CustomResourceOptions,
) => pulumi.CustomResource;

const typedKinds: Record<string, KubernetesClass> = {
  "v1/Namespace": k8s.core.v1.Namespace,
  "v1/ServiceAccount": k8s.core.v1.ServiceAccount,
  "v1/ConfigMap": k8s.core.v1.ConfigMap,
  "v1/Service": k8s.core.v1.Service,
  "apps/v1/Deployment": k8s.apps.v1.Deployment,
  "apps/v1/StatefulSet": k8s.apps.v1.StatefulSet,
  "apps/v1/DaemonSet": k8s.apps.v1.DaemonSet,
  "rbac.authorization.k8s.io/v1/Role": k8s.rbac.v1.Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": k8s.rbac.v1.RoleBinding,
  "rbac.authorization.k8s.io/v1/ClusterRole": k8s.rbac.v1.ClusterRole,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
  "v1/PersistentVolumeClaim": k8s.core.v1.PersistentVolumeClaim,
  "v1/Secret": k8s.core.v1.Secret,
  "networking.k8s.io/v1/NetworkPolicy": k8s.networking.v1.NetworkPolicy,
  "storage.k8s.io/v1/CSIDriver": k8s.storage.v1.CSIDriver,
  "storage.k8s.io/v1/StorageClass": k8s.storage.v1.StorageClass,
  "policy/v1/PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
};

export function kubernetesObject(
  name: string,
  object: K8sObject,
  opts: pulumi.CustomResourceOptions,
): pulumi.CustomResource {
  const typed = typedKinds[`${object.apiVersion}/${object.kind}`];
  if (typed) return new typed(name, object, opts);
  return new k8s.apiextensions.CustomResource(name, object, opts);
}
