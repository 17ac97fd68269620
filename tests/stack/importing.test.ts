/** The package as other stacks use it: importing creates nothing; the example consumer renders. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort } from "../../local/ports";
import { record } from "../../render/runtime";
import { testScope } from "../support/mocks";
import { findObject, kubernetesObjects, renderStack } from "../support/render";

// biome-ignore lint/suspicious/noExplicitAny: rendered objects are read loosely.
type Json = Record<string, any>;

const repo = path.resolve(__dirname, "../..");

describe("importing spire-mesh", () => {
  it("exports the components, and importing the built package registers no resource", async () => {
    const { resources, value } = await record(testScope, () => {
      const entry = require.resolve("spire-mesh", { paths: [repo] });
      delete require.cache[entry];
      return require(entry) as Record<string, unknown>;
    });
    assert.deepEqual(resources, []);
    for (const name of [
      "SpireInstallation",
      "SpireEntry",
      "SpireEntrySet",
      "MeshWorkload",
      "MtlsVirtualNode",
      "ColorApp",
      "TlsMode",
    ]) {
      assert.ok(name in value, `exports ${name}`);
    }
  });

  it("package.json points main, types and exports at the build", () => {
    const pkg = require(path.join(repo, "package.json"));
    assert.equal(pkg.name, "spire-mesh");
    assert.equal(require.resolve("spire-mesh", { paths: [repo] }), path.join(repo, pkg.main));
    assert.equal(pkg.exports["."].types, `./${pkg.types}`);
  });

  describe("the example consumer", () => {
    const consumerDir = path.join(repo, "examples/consumer");

    it("meshes its ledger in one MeshWorkload: a Deployment running the ConfigMap's app, its entry matching it", async () => {
      const r = await renderStack("dev", {}, consumerDir);
      const types = r.resources.map((x) => `${x.type} ${x.name}`);
      for (const expected of [
        "spire-mesh:index:SpireInstallation spire",
        "spire-mesh:index:ColorApp demo",
        "spire-mesh:index:MeshWorkload ledger",
      ]) {
        assert.ok(types.includes(expected), expected);
      }
      const deployment = findObject(r, "Deployment", "ledger", "ledger");
      const pod = deployment.spec.template.spec;
      const [app] = pod.containers;
      const volume = pod.volumes.find((v: Json) => v.name === app.volumeMounts[0].name);
      const code = kubernetesObjects(r).find(
        (o) => o.kind === "ConfigMap" && o.metadata.name === volume.configMap.name,
      );
      assert.ok(code, "the mounted ConfigMap is the stack's");
      const script = app.command[1].slice(app.volumeMounts[0].mountPath.length + 1);
      assert.equal(code.data[script], fs.readFileSync(path.join(consumerDir, "app", script), "utf8"));

      // The entry's selectors are what the Deployment deploys; its ID is the one the stack exports.
      const entryCommand = r.resources.find(
        (x) => x.type === "command:local:Command" && x.name === "ledger-entry",
      );
      const create: string[] = JSON.parse(entryCommand?.inputs.create as string).create;
      const flag = (name: string) => create.flatMap((v, i) => (create[i - 1] === name ? [v] : []));
      assert.deepEqual(
        flag("-selector").sort(),
        [
          `k8s:container-name:${pod.initContainers[0].name}`,
          `k8s:ns:${deployment.metadata.namespace}`,
          ...Object.entries(deployment.spec.template.metadata.labels).map(
            ([k, v]) => `k8s:pod-label:${k}:${v}`,
          ),
          `k8s:sa:${pod.serviceAccountName}`,
        ].sort(),
      );
      assert.deepEqual(flag("-spiffeID"), [r.outputs.ledgerIdentity]);
      // Only front may call it.
      assert.deepEqual(r.outputs.ledgerCallers, [(r.outputs.demoIdentities as Record<string, string>).front]);
      assert.deepEqual(r.warnings, [], "every identity the consumer uses is registered");
    });

    it("has no selector or SPIFFE ID literals beyond the trust domain", () => {
      const program = fs.readFileSync(path.join(consumerDir, "index.ts"), "utf8");
      assert.doesNotMatch(program, /spiffe:\/\/|k8s:(ns|sa|pod-label|container-name):/);
    });

    it("its ledger app answers on loopback: health, a balance, and 404 for an unknown account", async () => {
      const port = await freePort();
      const child = spawn(process.execPath, [path.join(consumerDir, "app", "ledger.js")], {
        env: { PATH: process.env.PATH, PORT: String(port) },
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        await new Promise((resolve) => child.stdout.once("data", resolve));
        const get = async (p: string) => {
          const res = await fetch(`http://127.0.0.1:${port}${p}`);
          return [res.status, await res.text()];
        };
        assert.deepEqual(await get("/ping"), [200, "pong"]);
        const [status, body] = await get("/balance/alice");
        assert.equal(status, 200);
        assert.equal(JSON.parse(body as string).account, "alice");
        assert.equal((await get("/balance/mallory"))[0], 404);
      } finally {
        child.kill();
      }
    });
  });
});
