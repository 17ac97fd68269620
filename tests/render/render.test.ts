/** `npm run render` end to end: the CLI a reviewer runs, writing the four outputs from the real program. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";

const repo = path.resolve(__dirname, "../..");

function render(...args: string[]) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "render-"));
  const result = spawnSync(
    process.execPath,
    [require.resolve("ts-node/dist/bin"), "scripts/render.ts", "--out", out, ...args],
    {
      cwd: repo,
      encoding: "utf8",
    },
  );
  return { out, ...result };
}

const readAll = (dir: string): string =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => fs.readFileSync(path.join(e.parentPath, e.name), "utf8"))
    .join("\n");

describe("npm run render", () => {
  let dev: ReturnType<typeof render>;
  before(() => {
    dev = render("--stack", "dev");
  });
  after(() => fs.rmSync(dev.out, { recursive: true, force: true }));

  it("writes resources.json, kubernetes.yaml, commands/ and outputs.json", () => {
    assert.equal(dev.status, 0, dev.stderr);
    for (const file of ["resources.json", "kubernetes.yaml", "outputs.json"])
      assert.ok(fs.existsSync(path.join(dev.out, file)));
    assert.ok(fs.readdirSync(path.join(dev.out, "commands")).length > 0);
    const resources = JSON.parse(fs.readFileSync(path.join(dev.out, "resources.json"), "utf8"));
    for (const r of resources) assert.deepEqual(Object.keys(r), ["type", "name", "parent", "inputs"]);
  });

  it("kubernetes.yaml holds every Kubernetes object with the SPIRE install among them", () => {
    const docs = parseAllDocuments(fs.readFileSync(path.join(dev.out, "kubernetes.yaml"), "utf8")).map((d) =>
      d.toJS(),
    );
    const resources = JSON.parse(fs.readFileSync(path.join(dev.out, "resources.json"), "utf8")) as {
      type: string;
    }[];
    const k8sTypes = resources.filter(
      (r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:helm"),
    );
    assert.equal(docs.length, k8sTypes.length - 0);
    for (const doc of docs)
      assert.deepEqual(Object.keys(doc).slice(0, 3), ["apiVersion", "kind", "metadata"]);
    const names = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    for (const expected of [
      "StatefulSet/spire-server",
      "DaemonSet/spire-agent",
      "ConfigMap/spire-bundle",
      "Service/spire-server",
    ]) {
      assert.ok(names.includes(expected), expected);
    }
  });

  it("finds none of the keys SPIRE 1.13 rejects anywhere in the render", () => {
    const text = readAll(dev.out);
    assert.doesNotMatch(
      text,
      /enable_sds|default_svid_ttl|k8s_sat|registration_uds_path|whitelist|NodeResolver/,
    );
  });

  it("commands/ shows each entry's create, update and delete argv and only environment names", () => {
    const front = fs.readFileSync(path.join(dev.out, "commands", "front-entry.txt"), "utf8");
    assert.match(
      front,
      /^create: kubectl exec -i -n spire spire-server-0 -c spire-server -- \/opt\/spire\/bin\/spire-server entry create /m,
    );
    assert.match(front, /^update: .* entry update -entryID spire-mesh\.dev\.front /m);
    assert.match(front, /^delete: .* entry delete -entryID spire-mesh\.dev\.front -output json$/m);
    assert.match(front, /^environment: /m);
  });

  it("--config overrides one value for this render only, as pulumi config set would", () => {
    const green = render("--stack", "dev", "--config", "registerGreen=true");
    try {
      assert.equal(green.status, 0, green.stderr);
      assert.ok(fs.existsSync(path.join(green.out, "commands", "colorgreen-entry.txt")));
      assert.ok(!fs.existsSync(path.join(dev.out, "commands", "colorgreen-entry.txt")));
    } finally {
      fs.rmSync(green.out, { recursive: true, force: true });
    }
  });

  it("fails with the stack's config problems, and an unknown stack or flag, before writing anything", () => {
    const bad = render("--stack", "dev", "--config", "svidTtl=soon", "--config", "noSuchKey=1");
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /noSuchKey/);
    assert.deepEqual(fs.readdirSync(bad.out), []);
    assert.notEqual(render("--stack", "nope").status, 0);
    assert.match(render("--stack", "dev", "--bogus", "x").stderr, /unknown flag --bogus/);
  });
});
