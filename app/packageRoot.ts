import * as fs from "node:fs";
import * as path from "node:path";

/** The spire-mesh package directory, whether running from sources (ts-node) or from dist/ in node_modules. */
export function packageRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json");
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, "utf8")).name === "spire-mesh")
      return dir;
  }
  throw new Error(`spire-mesh: cannot find the package root above ${__dirname}`);
}
