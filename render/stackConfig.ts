/**
 * Reads a stack's configuration the way the Pulumi CLI hands it to a program: project defaults from Pulumi.yaml,
 * then Pulumi.<stack>.yaml, then `key=value` overrides, all as strings keyed `<project>:<key>`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

export interface StackConfig {
  readonly project: string;
  readonly main: string;
  readonly config: Record<string, string>;
  readonly secretKeys: string[];
}

const asConfigString = (value: unknown): string =>
  typeof value === "string" ? value : JSON.stringify(value);

export function readStackConfig(
  projectDir: string,
  stack: string,
  overrides: Readonly<Record<string, string>>,
  secretOverrides: Readonly<Record<string, string>> = {},
): StackConfig {
  const projectFile = path.join(projectDir, "Pulumi.yaml");
  const projectYaml = parse(fs.readFileSync(projectFile, "utf8")) as {
    name: string;
    main?: string;
    config?: Record<string, { default?: unknown; value?: unknown }>;
  };
  const project = projectYaml.name;
  const qualify = (key: string) => (key.includes(":") ? key : `${project}:${key}`);
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];

  for (const [key, declaration] of Object.entries(projectYaml.config ?? {})) {
    const value = declaration?.default ?? declaration?.value;
    if (value !== undefined) config[qualify(key)] = asConfigString(value);
  }

  const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(stackFile)) throw new Error(`render: no stack file ${stackFile} for stack "${stack}"`);
  const stackYaml = (parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  for (const [key, value] of Object.entries(stackYaml.config ?? {})) {
    if (value !== null && typeof value === "object" && "secure" in value) {
      // Encrypted values cannot be read offline; the program sees a marked secret placeholder.
      config[qualify(key)] = `<placeholder: secret ${key}, decrypted by pulumi up>`;
      secretKeys.push(qualify(key));
    } else {
      config[qualify(key)] = asConfigString(value);
    }
  }
  for (const [key, value] of Object.entries(overrides)) config[qualify(key)] = value;
  for (const [key, value] of Object.entries(secretOverrides)) {
    config[qualify(key)] = value;
    if (!secretKeys.includes(qualify(key))) secretKeys.push(qualify(key));
  }
  return { project, main: projectYaml.main ?? "index.ts", config, secretKeys };
}
