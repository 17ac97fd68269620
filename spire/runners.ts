/**
 * How command resources start the package's runners (bin/*.js). The stored command must not depend on where
 * `pulumi up` ran or where the package lives on this machine: a path relative to the working directory changes
 * with it (every command then "updates") and a stored `delete` can point at a file that is not there. So the
 * interpreter names the runner only, and finds the installed spire-mesh package when the command runs, from the
 * command's working directory (the Pulumi project) as Node resolves a dependency. Pure.
 */

export type Runner = "spire-entry.js" | "spire-entry-set.js" | "spire-bundle.js";

/**
 * Run by `node -e`: argv[1] is the runner's file name, the step's command follows as argv[2], where the runner
 * reads it (as when started as `node bin/<runner> <command>`).
 */
const START_RUNNER = [
  'const path = require("node:path");',
  "const runner = process.argv[1];",
  'if (!/^spire-[a-z-]+\\.js$/.test(runner)) throw new Error("spire-mesh: no runner " + JSON.stringify(runner));',
  "let root;",
  'try { root = path.dirname(require.resolve("spire-mesh/package.json", { paths: [process.cwd()] })); }',
  'catch (e) { throw new Error("spire-mesh: cannot find the spire-mesh package from " + process.cwd() + " to run " + runner + ": " + e.message); }',
  'require(path.join(root, "bin", runner));',
].join(" ");

/** The `interpreter` of a command resource whose create/update/delete strings `runner` executes. */
export function runnerInterpreter(runner: Runner): string[] {
  return ["node", "-e", START_RUNNER, runner];
}
