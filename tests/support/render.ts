/** Renders of the real stack program, cached per configuration: one evaluation serves many assertions. */
import { type RecordedResource, type RenderResult, renderProgram } from "../../render/runtime";
import { isKubernetesObject, kubernetesObject } from "../../render/write";

/** Config override that selects the App Mesh data plane (the default is envoy). */
export const appMesh: Readonly<Record<string, string>> = { dataPlane: "appmesh" };

const cache = new Map<string, Promise<RenderResult>>();
let queue: Promise<unknown> = Promise.resolve();

/** Renders run strictly one after another: the mock monitor is process-wide. */
export function renderStack(
  stack: string,
  overrides: Record<string, string> = {},
  projectDir?: string,
  secrets: Record<string, string> = {},
): Promise<RenderResult> {
  const key = JSON.stringify([stack, overrides, projectDir, secrets]);
  let result = cache.get(key);
  if (!result) {
    result = queue.then(() => renderProgram({ stack, overrides, projectDir, secrets }));
    queue = result.catch(() => undefined);
    cache.set(key, result);
  }
  return result;
}

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: tests walk arbitrary manifest fields.
  [field: string]: any;
};

export const kubernetesObjects = (r: RenderResult): KubeObject[] =>
  r.resources.filter(isKubernetesObject).map((x) => kubernetesObject(x) as KubeObject);

export function findObject(r: RenderResult, kind: string, name: string, namespace?: string): KubeObject {
  const found = kubernetesObjects(r).filter(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${namespace ?? ""}/${name}, found ${found.length}`);
  return found[0];
}

export const resourcesOfType = (r: RenderResult, type: string): RecordedResource[] =>
  r.resources.filter((x) => x.type === type);

/** The ConfigMap a workload mounts as `volume` (ConfigMap names carry a content hash, so look them up). */
export function mountedConfigMap(
  r: RenderResult,
  kind: string,
  name: string,
  namespace: string,
  volume: string,
): KubeObject {
  const pod = findObject(r, kind, name, namespace).spec.template.spec;
  const mounted = pod.volumes.find((v: { name: string }) => v.name === volume);
  if (!mounted?.configMap) throw new Error(`${kind} ${namespace}/${name} mounts no ConfigMap as ${volume}`);
  return findObject(r, "ConfigMap", mounted.configMap.name, namespace);
}

/** A ConfigMap's name without its content hash (`blue-envoy-0123456789` -> `blue-envoy`). */
export const baseName = (name: string): string => name.replace(/-[0-9a-f]{10}$/, "");
