/**
 * npm run render -- --stack <name> [--out <dir>] [--config key=value ...] [--secret key=value ...]
 *   [--project <dir>] [--stack-reference <org/project/stack>=<outputs.json> ...]
 * Evaluates the stack program under Pulumi's mock runtime and writes what `pulumi up` would create. Each
 * --stack-reference answers a pulumi.StackReference read with the outputs in that file (as `pulumi stack output
 * --json` prints them); without any, the project's render/stack-references.json is used when present.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderProgram } from "../render/runtime";
import { writeRender } from "../render/write";

function parseArgs(argv: string[]) {
  const overrides: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  let stack: string | undefined;
  let out: string | undefined;
  let project: string | undefined;
  let stackReferences: Record<string, Record<string, unknown>> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    if (flag === "--stack") stack = value;
    else if (flag === "--out") out = value;
    else if (flag === "--project") project = value;
    else if (flag === "--stack-reference") {
      const eq = value.indexOf("=");
      if (eq <= 0) throw new Error(`${flag} expects <stack>=<outputs.json>, got ${JSON.stringify(value)}`);
      stackReferences = stackReferences ?? {};
      stackReferences[value.slice(0, eq)] = JSON.parse(fs.readFileSync(value.slice(eq + 1), "utf8"));
    } else if (flag === "--config" || flag === "--secret") {
      const eq = value.indexOf("=");
      if (eq <= 0) throw new Error(`${flag} expects key=value, got ${JSON.stringify(value)}`);
      (flag === "--secret" ? secrets : overrides)[value.slice(0, eq)] = value.slice(eq + 1);
    } else throw new Error(`unknown flag ${flag}`);
  }
  if (!stack)
    throw new Error(
      "usage: npm run render -- --stack <name> [--out <dir>] [--config key=value]... [--secret key=value]... " +
        "[--project <dir>] [--stack-reference <stack>=<outputs.json>]...",
    );
  // Default: out/<stack>, or out/<project directory>-<stack> for another project.
  out = out ?? path.join("out", project ? `${path.basename(path.resolve(project))}-${stack}` : stack);
  return { stack, out, overrides, secrets, project, stackReferences };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const result = await renderProgram({
    stack: args.stack,
    overrides: args.overrides,
    secrets: args.secrets,
    projectDir: args.project ? path.resolve(args.project) : undefined,
    stackReferences: args.stackReferences,
  });
  writeRender(result, args.out);
  const kinds = result.resources.filter((r) => r.custom).length;
  console.log(
    `rendered stack ${args.stack}: ${result.resources.length} resources (${kinds} custom) into ${args.out}`,
  );
  for (const warning of result.warnings) console.warn(`warning: ${warning}`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
