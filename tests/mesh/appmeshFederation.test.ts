/**
 * The appmesh data plane under federation. An App Mesh VirtualNode names one SDS trust secret per validation
 * block and takes no validator settings, so a block whose peers all sit in one trust domain names that domain's
 * bundle (`spiffe://<td>`, which SPIRE's agent serves for the own and each federated domain), and a block whose
 * peers span several names ALL and says at preview that App Mesh's Envoy was not shown to accept it. Each
 * VirtualNode is also checked against the v1beta2 CRD schema.
 */
import assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import { DataPlane, MeshWorkload, SpireInstallation, TlsMode } from "../../components";
import { type MeshNodeArgs, meshNodePlan } from "../../mesh/meshNode";
import { isKubernetesObject, kubernetesObject } from "../../render/write";
import type { K8sObject } from "../../spire/k8s";
import { validateAppMeshObjects } from "../support/appmeshSchema";
import { construct } from "../support/mocks";
import type { KubeObject } from "../support/render";

const WEST_WEB = "spiffe://west.example/ns/shop/sa/web";
const WEST_LEDGER = "spiffe://west.example/ns/shop/sa/ledger";
const EAST_CALLER = "spiffe://east.example/ns/east/sa/caller";
const EAST_GREETER = "spiffe://east.example/ns/east/sa/greeter";

/** A west node on appmesh that federates with east; the test gives its peers. */
const westNode = (peers: Partial<MeshNodeArgs>): MeshNodeArgs => ({
  name: "api",
  namespace: "shop",
  podSelector: { app: "api" },
  trustDomain: "west.example",
  identity: "spiffe://west.example/ns/shop/sa/api",
  federatesWith: ["east.example"],
  dataPlane: DataPlane.AppMesh,
  ...peers,
});

/** The node's App Mesh object (schema-checked) and its preview warnings. */
function appMeshPlan(args: MeshNodeArgs) {
  const plan = meshNodePlan(args);
  assert.ok(plan.appMesh, "the appmesh data plane renders a VirtualNode");
  validateAppMeshObjects([plan.appMesh]);
  return { node: plan.appMesh as KubeObject, warnings: plan.warnings };
}

// biome-ignore lint/suspicious/noExplicitAny: validation blocks are plain JSON.
const exactSans = (validation: any): string[] => validation.subjectAlternativeNames.match.exact;
const listenerValidation = (node: KubeObject) => node.spec.listeners[0].tls.validation;
const clientValidation = (node: KubeObject) => node.spec.backendDefaults.clientPolicy.tls.validation;

describe("App Mesh VirtualNodes of a federated node", () => {
  it("callers all in east: the listener trusts east's bundle; servers all in west: the client policy trusts west's", () => {
    const { node, warnings } = appMeshPlan(
      westNode({
        tlsMode: TlsMode.Strict,
        allowedCallers: [EAST_CALLER],
        backends: ["ledger"],
        allowedServers: [WEST_LEDGER],
      }),
    );
    assert.equal(listenerValidation(node).trust.sds.secretName, "spiffe://east.example");
    assert.deepEqual(exactSans(listenerValidation(node)), [EAST_CALLER]);
    assert.equal(clientValidation(node).trust.sds.secretName, "spiffe://west.example");
    assert.deepEqual(exactSans(clientValidation(node)), [WEST_LEDGER]);
    assert.deepEqual(warnings, []);
  });

  it("servers all in east: the client policy trusts east's bundle, whatever domain the callers are in", () => {
    const { node, warnings } = appMeshPlan(
      westNode({
        tlsMode: TlsMode.Strict,
        allowedCallers: [WEST_WEB],
        backends: ["greeter"],
        allowedServers: [EAST_GREETER],
      }),
    );
    assert.equal(listenerValidation(node).trust.sds.secretName, "spiffe://west.example");
    assert.equal(clientValidation(node).trust.sds.secretName, "spiffe://east.example");
    assert.deepEqual(exactSans(clientValidation(node)), [EAST_GREETER]);
    assert.deepEqual(warnings, []);
  });

  it("callers spanning west and east: the listener names ALL, keeps the exact SANs, and warns once", () => {
    const { node, warnings } = appMeshPlan(
      westNode({ tlsMode: TlsMode.Strict, allowedCallers: [WEST_WEB, EAST_CALLER] }),
    );
    assert.equal(listenerValidation(node).trust.sds.secretName, "ALL");
    assert.deepEqual(exactSans(listenerValidation(node)), [WEST_WEB, EAST_CALLER]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0],
      /^virtual node api: its callers \(listener validation\) span several trust domains/,
    );
    assert.match(warnings[0], /names ALL/);
    assert.match(warnings[0], /use the envoy data plane, or split the peers/);
  });

  it("servers spanning west and east: the client policy names ALL and warns once, about the servers", () => {
    const { node, warnings } = appMeshPlan(
      westNode({ backends: ["ledger", "greeter"], allowedServers: [WEST_LEDGER, EAST_GREETER] }),
    );
    assert.equal(clientValidation(node).trust.sds.secretName, "ALL");
    assert.deepEqual(exactSans(clientValidation(node)), [WEST_LEDGER, EAST_GREETER]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /^virtual node api: its servers \(backendDefaults validation\) span several/);
  });

  it("both blocks spanning: one warning each, callers first", () => {
    const { node, warnings } = appMeshPlan(
      westNode({
        tlsMode: TlsMode.Strict,
        allowedCallers: [EAST_CALLER, WEST_WEB],
        backends: ["ledger", "greeter"],
        allowedServers: [EAST_GREETER, WEST_LEDGER],
      }),
    );
    assert.equal(listenerValidation(node).trust.sds.secretName, "ALL");
    assert.equal(clientValidation(node).trust.sds.secretName, "ALL");
    assert.deepEqual(
      warnings.map((w) => /its (callers|servers) /.exec(w)?.[1]),
      ["callers", "servers"],
    );
  });
});

describe("MeshWorkload on appmesh under a federated SpireInstallation", () => {
  const east = {
    trustDomain: "east.example",
    bundleEndpointUrl: "https://east.example.net:8443",
    endpointSpiffeId: "spiffe://east.example/spire/server",
  };

  /** Builds `web` and `api` (callers: web and `extraCallers`); gives api's VirtualNode, entry and the warnings. */
  async function build(extraCallers: string[]) {
    const recording = await construct(() => {
      const installation = new SpireInstallation("spire", {
        trustDomain: "west.example",
        federation: { federatesWith: [east] },
      });
      const container = (name: string) => [{ name, image: "registry.example/app:1" }];
      // The program creates (and so labels) the namespace: no Pod Security warning among the ones tested here.
      const shop = new k8s.core.v1.Namespace("shop", { metadata: { name: "shop" } });
      const web = new MeshWorkload(
        "web",
        { namespace: "shop", installation, containers: container("web"), dataPlane: DataPlane.AppMesh },
        { dependsOn: [shop] },
      );
      return new MeshWorkload(
        "api",
        {
          namespace: "shop",
          installation,
          containers: container("api"),
          dataPlane: DataPlane.AppMesh,
          callers: [web, ...extraCallers],
        },
        { dependsOn: [shop] },
      );
    });
    assert.ok(recording.value instanceof MeshWorkload, String(recording.value));
    const nodes = recording.resources
      .filter(isKubernetesObject)
      .map((r) => kubernetesObject(r) as K8sObject)
      .filter((o) => o.kind === "VirtualNode" && o.metadata.name === "api");
    assert.equal(nodes.length, 1);
    validateAppMeshObjects(nodes);
    return { node: nodes[0] as KubeObject, entry: recording.value.entry, warnings: recording.warnings };
  }

  it("a caller of east next to web: its entry federates with east, the listener names ALL, and preview warns", async () => {
    const { node, entry, warnings } = await build([EAST_CALLER]);
    assert.deepEqual(entry.federatesWith, ["east.example"]);
    assert.equal(listenerValidation(node).trust.sds.secretName, "ALL");
    assert.deepEqual(exactSans(listenerValidation(node)), [WEST_WEB, EAST_CALLER]);
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0],
      /^virtual node api: its callers \(listener validation\) span several trust domains/,
    );
  });

  it("web alone: no federation on the entry, the listener trusts west's bundle, no warning", async () => {
    const { node, entry, warnings } = await build([]);
    assert.equal(entry.federatesWith, undefined);
    assert.equal(listenerValidation(node).trust.sds.secretName, "spiffe://west.example");
    assert.deepEqual(warnings, []);
  });
});
