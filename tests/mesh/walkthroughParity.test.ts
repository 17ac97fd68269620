/**
 * The dev stack against the walkthrough's rendered manifest (fact sheet 3.2, v1beta2/manifest.yaml.template),
 * object by object and field by field. Every expected value below is a literal copied from the fact sheet, never
 * read back from the render. Deliberate differences are listed where they apply:
 * - no `mode: STRICT` under front's backendDefaults.clientPolicy.tls (not a CRD field, fact sheet 8.6);
 * - the apps run as Node.js scripts from a ConfigMap on a stock image, so images, command, PORT env, resources,
 *   securityContext and a config-hash pod annotation are ours (the walkthrough has ECR images, no annotations).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { appSources } from "../../app/sources";
import type * as colorAppModule from "../../mesh/colorApp";
import { colorAppSpec } from "../../mesh/colorApp";
import type * as colorAppObjectsModule from "../../mesh/colorAppObjects";
import { colorAppObjects } from "../../mesh/colorAppObjects";
import { appMesh, findObject, type KubeObject, kubernetesObjects, renderStack } from "../support/render";

const NS = "howto-k8s-mtls-sds-based";

const HEALTH_CHECK = {
  protocol: "http",
  path: "/ping",
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  timeoutMillis: 2000,
  intervalMillis: 5000,
};

/** Fact sheet 3.2, the four VirtualNodes. */
const virtualNodes = {
  front: {
    podSelector: { app: "front" },
    hostname: "front.howto-k8s-mtls-sds-based.svc.cluster.local",
  },
  blue: {
    podSelector: { app: "color", version: "blue" },
    certificate: "spiffe://howto-k8s-mtls-sds-based.aws/colorblue",
    hostname: "color-blue.howto-k8s-mtls-sds-based.svc.cluster.local",
  },
  green: {
    podSelector: { app: "color", version: "green" },
    certificate: "spiffe://howto-k8s-mtls-sds-based.aws/colorgreen",
    hostname: "color-green.howto-k8s-mtls-sds-based.svc.cluster.local",
  },
  red: {
    podSelector: { app: "color", version: "red" },
    certificate: "spiffe://howto-k8s-mtls-sds-based.aws/colorred",
    hostname: "color-red.howto-k8s-mtls-sds-based.svc.cluster.local",
  },
} as const;

/** Fact sheet 3.2, Deployments: name, pod labels and the env the walkthrough sets. */
const deployments = {
  front: {
    labels: { app: "front" },
    env: { COLOR_HOST: "color.howto-k8s-mtls-sds-based.svc.cluster.local:8080" },
  },
  blue: { labels: { app: "color", version: "blue" }, env: { COLOR: "blue" } },
  green: { labels: { app: "color", version: "green" }, env: { COLOR: "green" } },
  red: { labels: { app: "color", version: "red" }, env: { COLOR: "red" } },
} as const;

/** Fact sheet 3.2, Services: name -> selector (undefined: the selectorless `color`). */
const services: Record<string, Record<string, string> | undefined> = {
  front: { app: "front" },
  "color-blue": { app: "color", version: "blue" },
  "color-green": { app: "color", version: "green" },
  "color-red": { app: "color", version: "red" },
  color: undefined,
};

const dev = () => renderStack("dev", appMesh);

interface Container {
  name: string;
  ports?: { containerPort: number }[];
  env?: { name: string; value?: string }[];
}

const envOf = (container: Container): Record<string, string | undefined> =>
  Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));

describe("walkthrough parity (dev stack vs fact sheet 3.2)", () => {
  it("Namespace howto-k8s-mtls-sds-based: labels mesh and sidecarInjectorWebhook only", async () => {
    const ns = findObject(await dev(), "Namespace", NS);
    assert.deepEqual(ns.metadata.labels, {
      mesh: "howto-k8s-mtls-sds-based",
      "appmesh.k8s.aws/sidecarInjectorWebhook": "enabled",
    });
  });

  it("Mesh: cluster-scoped, spec only namespaceSelector.matchLabels mesh", async () => {
    const mesh = findObject(await dev(), "Mesh", "howto-k8s-mtls-sds-based");
    assert.equal(mesh.apiVersion, "appmesh.k8s.aws/v1beta2");
    assert.equal(mesh.metadata.namespace, undefined);
    assert.deepEqual(mesh.spec, { namespaceSelector: { matchLabels: { mesh: "howto-k8s-mtls-sds-based" } } });
  });

  describe("VirtualNodes", () => {
    for (const [name, expected] of Object.entries(virtualNodes)) {
      it(`${name}: podSelector, listener 8080/http, health check /ping 2/2/2000/5000, DNS hostname`, async () => {
        const node = findObject(await dev(), "VirtualNode", name, NS);
        assert.equal(node.apiVersion, "appmesh.k8s.aws/v1beta2");
        assert.deepEqual(node.spec.podSelector, { matchLabels: expected.podSelector });
        assert.equal(node.spec.listeners.length, 1);
        const [listener] = node.spec.listeners;
        assert.deepEqual(listener.portMapping, { port: 8080, protocol: "http" });
        assert.deepEqual(listener.healthCheck, HEALTH_CHECK);
        assert.deepEqual(node.spec.serviceDiscovery, { dns: { hostname: expected.hostname } });
      });
    }

    for (const name of ["blue", "green", "red"] as const) {
      it(`${name}: listener tls STRICT with its own SVID, the trust domain bundle, and only front allowed`, async () => {
        const node = findObject(await dev(), "VirtualNode", name, NS);
        assert.deepEqual(node.spec.listeners[0].tls, {
          mode: "STRICT",
          certificate: { sds: { secretName: virtualNodes[name].certificate } },
          validation: {
            trust: { sds: { secretName: "spiffe://howto-k8s-mtls-sds-based.aws" } },
            subjectAlternativeNames: { match: { exact: ["spiffe://howto-k8s-mtls-sds-based.aws/front"] } },
          },
        });
        // "no backends, no backendDefaults"
        assert.deepEqual(Object.keys(node.spec).sort(), ["listeners", "podSelector", "serviceDiscovery"]);
      });
    }

    it("front: no listener tls (the curler outside the mesh calls it in plaintext)", async () => {
      const front = findObject(await dev(), "VirtualNode", "front", NS);
      assert.equal(front.spec.listeners[0].tls, undefined);
    });

    it("front: one backend, virtual service color", async () => {
      const front = findObject(await dev(), "VirtualNode", "front", NS);
      assert.deepEqual(front.spec.backends, [{ virtualService: { virtualServiceRef: { name: "color" } } }]);
      assert.deepEqual(Object.keys(front.spec).sort(), [
        "backendDefaults",
        "backends",
        "listeners",
        "podSelector",
        "serviceDiscovery",
      ]);
    });

    it("front: backendDefaults.clientPolicy.tls enforces front's SVID, the bundle and the three colour SANs", async () => {
      const front = findObject(await dev(), "VirtualNode", "front", NS);
      const tls = front.spec.backendDefaults.clientPolicy.tls;
      assert.equal(tls.enforce, true);
      assert.deepEqual(tls.certificate, {
        sds: { secretName: "spiffe://howto-k8s-mtls-sds-based.aws/front" },
      });
      assert.deepEqual(tls.validation.trust, {
        sds: { secretName: "spiffe://howto-k8s-mtls-sds-based.aws" },
      });
      // The walkthrough lists blue, red, green; an exact-match SAN list is a set, so order is not compared.
      const sans: string[] = tls.validation.subjectAlternativeNames.match.exact;
      assert.equal(new Set(sans).size, sans.length, "no SAN listed twice");
      assert.deepEqual(
        new Set(sans),
        new Set([
          "spiffe://howto-k8s-mtls-sds-based.aws/colorblue",
          "spiffe://howto-k8s-mtls-sds-based.aws/colorred",
          "spiffe://howto-k8s-mtls-sds-based.aws/colorgreen",
        ]),
      );
      // Deliberate difference: the walkthrough's `mode: STRICT` here is not a ClientPolicyTLS field (8.6).
      assert.deepEqual(Object.keys(tls).sort(), ["certificate", "enforce", "validation"]);
      assert.deepEqual(Object.keys(front.spec.backendDefaults), ["clientPolicy"]);
    });
  });

  it("VirtualService color: awsName color.<ns>.svc.cluster.local, provided by virtual router color", async () => {
    const service = findObject(await dev(), "VirtualService", "color", NS);
    assert.deepEqual(service.spec, {
      awsName: "color.howto-k8s-mtls-sds-based.svc.cluster.local",
      provider: { virtualRouter: { virtualRouterRef: { name: "color" } } },
    });
  });

  it("VirtualRouter color: listener 8080/http and the three header routes, priorities 10/20/30", async () => {
    const router = findObject(await dev(), "VirtualRouter", "color", NS);
    assert.deepEqual(router.spec.listeners, [{ portMapping: { port: 8080, protocol: "http" } }]);
    const route = (color: string, priority: number) => ({
      name: `color-route-${color}`,
      priority,
      httpRoute: {
        match: { prefix: "/", headers: [{ name: "color_header", match: { exact: color } }] },
        action: { weightedTargets: [{ virtualNodeRef: { name: color }, weight: 1 }] },
      },
    });
    // No default route: a request without a matching header has no route, as in the walkthrough.
    assert.deepEqual(router.spec.routes, [route("blue", 10), route("green", 20), route("red", 30)]);
  });

  describe("Deployments", () => {
    for (const [name, expected] of Object.entries(deployments)) {
      it(`${name}: 1 replica, labels, container app on 8080 with the walkthrough's env, its own ServiceAccount`, async () => {
        const deployment = findObject(await dev(), "Deployment", name, NS);
        assert.equal(deployment.spec.replicas, 1);
        assert.deepEqual(deployment.spec.selector, { matchLabels: expected.labels });
        assert.deepEqual(deployment.spec.template.metadata.labels, expected.labels);
        const pod = deployment.spec.template.spec;
        // Deliberate departure: the walkthrough runs every app as `default`, so k8s:sa:default told no workload
        // apart and any pod with the right labels got its SVID. Each workload has its own account now, with no
        // token mounted, and its SPIRE selectors name it.
        assert.equal(pod.serviceAccountName, name);
        assert.equal(pod.automountServiceAccountToken, false);
        assert.equal(pod.containers.length, 1);
        const [container] = pod.containers as Container[];
        // The SVID is bound to the injected `envoy` container; the app must not be named envoy.
        assert.equal(container.name, "app");
        assert.deepEqual(
          (container.ports ?? []).map((p) => p.containerPort),
          [8080],
        );
        const env = envOf(container);
        for (const [key, value] of Object.entries(expected.env)) assert.equal(env[key], value, key);
        // Front gets no COLOR and the colours no COLOR_HOST, as in the manifest.
        assert.equal(env[name === "front" ? "COLOR" : "COLOR_HOST"], undefined);
        // Membership is by labels and the namespace label; the walkthrough sets no App Mesh pod annotations.
        const annotations = Object.keys(deployment.spec.template.metadata.annotations ?? {});
        assert.deepEqual(
          annotations.filter((key) => key.startsWith("appmesh.k8s.aws/")),
          [],
        );
      });
    }
  });

  describe("Services", () => {
    for (const [name, selector] of Object.entries(services)) {
      it(`${name}: ClusterIP, port 8080 named http${selector ? "" : ", NO selector"}`, async () => {
        const service = findObject(await dev(), "Service", name, NS);
        assert.ok(service.spec.type === undefined || service.spec.type === "ClusterIP", service.spec.type);
        assert.equal(service.spec.ports.length, 1);
        const [port] = service.spec.ports;
        assert.equal(port.name, "http");
        assert.equal(port.port, 8080);
        // The walkthrough leaves targetPort to default to the port.
        assert.ok(port.targetPort === undefined || port.targetPort === 8080, `targetPort ${port.targetPort}`);
        assert.deepEqual(service.spec.selector, selector);
      });
    }
  });

  it("no other Services or Deployments in the app namespace", async () => {
    const names = kubernetesObjects(await dev())
      .filter((o) => o.metadata.namespace === NS && (o.kind === "Service" || o.kind === "Deployment"))
      .map((o) => `${o.kind}/${o.metadata.name}`)
      .sort();
    assert.deepEqual(names, [
      "Deployment/blue",
      "Deployment/front",
      "Deployment/green",
      "Deployment/red",
      "Service/color",
      "Service/color-blue",
      "Service/color-green",
      "Service/color-red",
      "Service/front",
    ]);
  });

  describe("the app code ConfigMap", () => {
    /** The ConfigMap a Deployment mounts its code from, found through its volume rather than by name. */
    function codeConfigMapOf(objects: KubeObject[], deployment: KubeObject): KubeObject {
      const volumes: { configMap?: { name: string } }[] = deployment.spec.template.spec.volumes ?? [];
      const names = volumes.flatMap((v) => (v.configMap ? [v.configMap.name] : []));
      assert.equal(names.length, 1, `${deployment.metadata.name} mounts one ConfigMap`);
      const found = objects.filter(
        (o) => o.kind === "ConfigMap" && o.metadata.name === names[0] && o.metadata.namespace === NS,
      );
      assert.equal(found.length, 1);
      return found[0];
    }

    it("every Deployment mounts the ConfigMap that holds the current app sources", async () => {
      const objects = kubernetesObjects(await dev());
      const sources = appSources();
      assert.deepEqual(Object.keys(sources).sort(), ["color-app.js", "front-app.js"]);
      for (const name of Object.keys(deployments)) {
        const code = codeConfigMapOf(objects, findObject(await dev(), "Deployment", name, NS));
        assert.deepEqual(code.data, { ...sources });
      }
    });

    describe("a change to the app code rolls the pods", () => {
      // The sources are read from <package root>/app, so a copy of the package with one file edited gives a
      // colorAppObjects that sees changed code, without touching the real app files or stubbing anything.
      const copies: string[] = [];
      after(() => {
        for (const dir of copies) fs.rmSync(dir, { recursive: true, force: true });
      });

      function objectsFromPackageCopy(edit: (files: Record<string, string>) => void) {
        const repo = path.resolve(__dirname, "../..");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spire-mesh-copy-"));
        copies.push(dir);
        for (const sub of ["app", "core", "mesh", "spire"]) {
          fs.cpSync(path.join(repo, sub), path.join(dir, sub), { recursive: true });
        }
        fs.copyFileSync(path.join(repo, "package.json"), path.join(dir, "package.json"));
        const files: Record<string, string> = {};
        for (const file of ["front-app.js", "color-app.js"]) {
          files[file] = fs.readFileSync(path.join(dir, "app", file), "utf8");
        }
        edit(files);
        for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, "app", file), text);
        const copy = require(path.join(dir, "mesh", "colorApp.ts")) as typeof colorAppModule;
        const copyObjects = require(
          path.join(dir, "mesh", "colorAppObjects.ts"),
        ) as typeof colorAppObjectsModule;
        return { objects: copyObjects.colorAppObjects(copy.colorAppSpec()), files };
      }

      it("an unchanged copy gives the same annotations; an edited file changes them on every Deployment", () => {
        const original = colorAppObjects(colorAppSpec());
        const same = objectsFromPackageCopy(() => {}).objects;
        for (const name of Object.keys(deployments)) {
          const annotations = original.apps[name].podAnnotations;
          assert.ok(Object.keys(annotations).length > 0, `${name} has a config-hash annotation`);
          assert.deepEqual(same.apps[name].podAnnotations, annotations, name);
        }
        for (const file of ["front-app.js", "color-app.js"]) {
          const edited = objectsFromPackageCopy((files) => {
            files[file] += "\n// edited\n";
          });
          assert.deepEqual(edited.objects.code.data, edited.files, "the ConfigMap holds the edited code");
          assert.notDeepEqual(edited.objects.code.data, original.code.data);
          // Every pod mounts both files, so an edit to either one must roll all four Deployments.
          for (const name of Object.keys(deployments)) {
            assert.notDeepEqual(
              edited.objects.apps[name].podAnnotations,
              original.apps[name].podAnnotations,
              `${name} after editing ${file}`,
            );
          }
        }
      });
    });
  });
});
