/** Writes a render as files a reviewer reads: resources, Kubernetes YAML, entry commands and stack outputs. */
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
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

const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/** A command resource as text: for our entry runner, each step's argv; otherwise the raw command. */
export function describeCommand(r: RecordedResource): string {
  const inputs = r.inputs as {
    interpreter?: string[];
    create?: string;
    update?: string;
    delete?: string;
    environment?: Record<string, unknown>;
  };
  const lines = [
    `# ${r.type} ${r.name}`,
    `interpreter: ${(inputs.interpreter ?? ["/bin/sh", "-c"]).join(" ")}`,
  ];
  for (const step of ["create", "update", "delete"] as const) {
    const text = inputs[step];
    if (text === undefined) continue;
    lines.push("", `## ${step}`);
    try {
      const plan = JSON.parse(text) as Record<string, unknown>;
      for (const [key, value] of Object.entries(plan)) {
        if (Array.isArray(value)) lines.push(`${key}: ${value.map((a) => shellQuote(String(a))).join(" ")}`);
      }
      lines.push(`plan: ${text}`);
    } catch {
      lines.push(text);
    }
  }
  // Only the names: values can be secrets (kubeconfig contents).
  lines.push("", `environment: ${Object.keys(inputs.environment ?? {}).join(", ") || "(none)"}`);
  return `${lines.join("\n")}\n`;
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
