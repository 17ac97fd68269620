// @ts-check
/**
 * The runners' pure logic is TypeScript in spire/, compiled to dist/spire/ by `npm run build` (the package ships
 * dist/spire/). This loads one such module, and stops the runner with a message naming the build when it is
 * missing, or older than its source in a checkout (a stale build would compare by yesterday's rules).
 */
const fs = require("node:fs");
const path = require("node:path");

const ROOT = path.join(__dirname, "..", "..");

/** @param {string} name a module of spire/, e.g. "entryDiff" */
function builtSpireModule(name) {
  const built = path.join(ROOT, "dist", "spire", `${name}.js`);
  const source = path.join(ROOT, "spire", `${name}.ts`);
  let problem;
  if (!fs.existsSync(built)) problem = `${built} is missing`;
  else if (fs.existsSync(source) && fs.statSync(source).mtimeMs > fs.statSync(built).mtimeMs)
    problem = `${built} is older than ${source}`;
  if (problem) {
    process.stderr.write(`spire-mesh: ${problem}: run npm run build (the runners use the compiled spire/)\n`);
    process.exit(1);
  }
  return require(built);
}

module.exports = { builtSpireModule };
