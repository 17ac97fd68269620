/** The schema checks themselves: they pass the real SPIRE manifests and name each kind of mistake they exist to catch. */
import assert from "node:assert/strict";
import type { K8sObject } from "../../spire/k8s";
import { spireManifests } from "../../spire/manifests";
import { spireSettings } from "../../spire/settings";
import { kubernetesSchemaCoverage, validateKubernetesObjects } from "./kubernetesSchema";

type Fields = Record<string, unknown>;
interface Workload {
  spec: { replicas?: unknown; template: { spec: { containers: Fields[] } } };
}

const spire = () => spireManifests(spireSettings({ trustDomain: "howto-k8s-mtls-sds-based.aws" }));
/** Every object of the install; optional ones (HA's database Secret, disruption budget) are absent by default. */
const allSpireObjects = (): K8sObject[] =>
  Object.values(spire())
    .flat()
    .filter((o): o is K8sObject => o !== undefined);

/** A mutable copy, so a test can break one object without touching the builder's output. */
const copyOf = <T extends K8sObject>(object: T): T & Fields => structuredClone(object) as T & Fields;

const containersOf = (workload: K8sObject): Fields[] =>
  (workload as unknown as Workload).spec.template.spec.containers;

/** Renames a field in place of the original, keeping every other field and its order. */
const renameField = (fields: Fields, from: string, to: string): Fields =>
  Object.fromEntries(Object.entries(fields).map(([key, value]) => [key === from ? to : key, value]));

/** The problem lines of the one Error the validator throws (the first line is the count). */
function problemsOf(objects: readonly K8sObject[]): string[] {
  try {
    validateKubernetesObjects(objects);
  } catch (error) {
    assert.ok(error instanceof Error);
    const [summary, ...problems] = error.message.split("\n").map((line) => line.trim());
    assert.equal(summary, `${problems.length} Kubernetes schema problem(s):`);
    return problems;
  }
  assert.fail("expected the objects to be rejected");
}

describe("Kubernetes schema validation", () => {
  it("passes every object of the SPIRE install, all of them built-in kinds", () => {
    const objects = allSpireObjects();
    validateKubernetesObjects(objects);
    const coverage = kubernetesSchemaCoverage(objects);
    assert.equal(coverage.checked.length, objects.length);
    assert.deepEqual(coverage.customResources, []);
  });

  it("rejects misspelled fields deep in pod templates, naming each one, in one error", () => {
    const { serverStatefulSet, agentDaemonSet } = spire();
    const server = copyOf(serverStatefulSet);
    const agent = copyOf(agentDaemonSet);
    containersOf(server)[0] = renameField(containersOf(server)[0], "image", "imagee");
    containersOf(agent)[0] = renameField(containersOf(agent)[0], "volumeMounts", "volumeMount");

    assert.deepEqual(problemsOf([server, agent]), [
      'StatefulSet/spire-server: strict decoding: unknown field "spec.template.spec.containers[0].imagee"',
      'DaemonSet/spire-agent: strict decoding: unknown field "spec.template.spec.containers[0].volumeMount"',
    ]);
  });

  it("rejects a field of the wrong type (OpenAPI and the Go types both)", () => {
    const server = copyOf(spire().serverStatefulSet);
    (server as unknown as Workload).spec.replicas = "1";

    const problems = problemsOf([server]);
    assert.equal(problems.length, 2);
    assert.equal(problems[0], "StatefulSet/spire-server: openapi: /spec/replicas must be integer");
    assert.match(problems[1], /^StatefulSet\/spire-server: strict decoding: .*spec\.replicas of type int32$/);
  });

  it("rejects a missing required field", () => {
    const agent = copyOf(spire().agentDaemonSet);
    const { name: _name, ...unnamedContainer } = containersOf(agent)[0];
    containersOf(agent)[0] = unnamedContainer;

    assert.deepEqual(problemsOf([agent]), [
      "DaemonSet/spire-agent: openapi: /spec/template/spec/containers/0 must have required property name",
    ]);
  });

  it("rejects an unknown top-level field", () => {
    const serverConfig = renameField(
      copyOf(spire().serverConfigMap),
      "data",
      "datas",
    ) as unknown as K8sObject;

    assert.deepEqual(problemsOf([serverConfig]), [
      `ConfigMap/${serverConfig.metadata.name}: strict decoding: unknown field "datas"`,
    ]);
  });

  it("rejects a misspelled kind or group instead of taking it for a custom resource", () => {
    const server = copyOf(spire().serverStatefulSet);
    const misspelledKind = { ...server, kind: "StatefullSet" };
    const misspelledGroup = { ...server, apiVersion: "app/v1" };

    const problems = problemsOf([misspelledKind, misspelledGroup]);
    assert.ok(
      problems.includes("StatefullSet/spire-server: no kind StatefullSet in apps/v1"),
      problems.join("\n"),
    );
    assert.ok(
      problems.includes("StatefulSet/spire-server: apiVersion app/v1 is not a Kubernetes API"),
      problems.join("\n"),
    );
    assert.deepEqual(kubernetesSchemaCoverage([misspelledKind, misspelledGroup]).customResources, []);
  });

  it("skips a custom resource without failing, and reports it as not covered", () => {
    const spireObjects = allSpireObjects();
    const mesh: K8sObject = {
      apiVersion: "appmesh.k8s.aws/v1beta2",
      kind: "Mesh",
      metadata: { name: "howto-k8s-mtls-sds-based" },
      spec: { namespaceSelector: { matchLabels: { mesh: "howto-k8s-mtls-sds-based" } } },
    };

    validateKubernetesObjects([...spireObjects, mesh]);
    const coverage = kubernetesSchemaCoverage([...spireObjects, mesh]);
    assert.deepEqual(coverage.customResources, ["Mesh/howto-k8s-mtls-sds-based"]);
    assert.equal(coverage.checked.length, spireObjects.length);
  });
});
