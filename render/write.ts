/** Writes a render as files a reviewer reads: resources, Kubernetes YAML, entry commands and stack outputs. */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { describeCommand } from "./commands";
import type { RecordedResource, RenderResult } from "./runtime";

export const isKubernetesObject = (r: RecordedResource): boolean =>
  r.custom &&
  r.type.startsWith("kubernetes:") &&
  !r.type.startsWith("kubernetes:helm.sh") &&
  "kind" in r.inputs;

/** The object as registered, with apiVersion, kind and metadata first. */
export function kubernetesObject(r: RecordedResource): Record<string, unknown> {
  const { apiVersion, kind, metadata, ...rest } = r.inputs as Record<string, unknown>;
  return { apiVersion, kind, metadata, ...rest };
}

export function writeRender(result: RenderResult, outDir: string): void {
  fs.mkdirSync(path.join(outDir, "commands"), { recursive: true });
  const resources = result.resources.map((r) => ({
    type: r.type,
    name: r.name,
    parent: r.parent ?? null,
    inputs: r.inputs,
  }));
  fs.writeFileSync(path.join(outDir, "resources.json"), `${JSON.stringify(resources, null, 2)}\n`);
  const objects = result.resources.filter(isKubernetesObject).map(kubernetesObject);
  fs.writeFileSync(
    path.join(outDir, "kubernetes.yaml"),
    objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"),
  );
  for (const r of result.resources.filter((x) => x.type.startsWith("command:"))) {
    fs.writeFileSync(path.join(outDir, "commands", `${r.name}.txt`), describeCommand(r));
  }
  fs.writeFileSync(path.join(outDir, "outputs.json"), `${JSON.stringify(result.outputs, null, 2)}\n`);
  if (result.warnings.length > 0)
    fs.writeFileSync(path.join(outDir, "warnings.txt"), `${result.warnings.join("\n")}\n`);
}
