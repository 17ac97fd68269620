/** Plain Kubernetes object shapes shared by the builders, and the content hash that rolls pods on change. */
import { createHash } from "node:crypto";

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

/** A short, stable hash of config content; put on pod templates so a config change rolls the pods. */
export const contentHash = (...parts: string[]): string =>
  createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 16);

export const CONFIG_HASH_ANNOTATION = "spire-mesh.io/config-hash";

/**
 * The name of an immutable ConfigMap holding `content`: a change makes a new ConfigMap (created before the old
 * one is deleted, and pods roll to it), so a restarting pod never finds its config missing or half-changed.
 */
export const contentName = (base: string, ...content: string[]): string =>
  `${base}-${contentHash(...content).slice(0, 10)}`;

export const restrictedContainerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
} as const;
