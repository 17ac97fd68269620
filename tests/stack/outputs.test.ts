/** The stack's outputs: identities, pod lookups and the walkthrough's Step 4-6 checks as ready-to-run commands. */
import assert from "node:assert/strict";
import { adminReaderArgv } from "../../mesh/verification";
import { appMesh, renderStack } from "../support/render";

type Verify = {
  sdsClusterHealth: string;
  certs: Record<string, string>;
  clusterHealth: string;
  handshakes: Record<string, string>;
  curl: Record<string, string>;
  registerGreen: string;
};

describe("stack outputs (dev)", () => {
  let outputs: Record<string, unknown>;
  before(async () => {
    ({ outputs } = await renderStack("dev"));
  });
  const ns = "howto-k8s-mtls-sds-based";

  it("finds each pod as the walkthrough's FRONT_POD, BLUE_POD, RED_POD and GREEN_POD do", () => {
    assert.deepEqual(outputs.podNameCommands, {
      front: `kubectl get pod -n ${ns} -l app=front -o jsonpath='{.items[0].metadata.name}'`,
      blue: `kubectl get pod -n ${ns} -l version=blue -o jsonpath='{.items[0].metadata.name}'`,
      green: `kubectl get pod -n ${ns} -l version=green -o jsonpath='{.items[0].metadata.name}'`,
      red: `kubectl get pod -n ${ns} -l version=red -o jsonpath='{.items[0].metadata.name}'`,
    });
  });

  it("envoy data plane: reads the admin socket inside the envoy container, as Envoy's uid, with the image's perl", () => {
    const verify = outputs.verify as Verify;
    // The reader's argv, shell-quoted: tests/local/adminSocket.test.ts runs this argv against a sidecar's socket.
    const [perl, module, e, script, socket, adminPath] = adminReaderArgv(
      "/run/envoy-admin/admin.sock",
      "/certs",
    );
    assert.doesNotMatch(script, /'/, "the script needs no escaped quote inside its single quotes");
    assert.equal(
      verify.certs.front,
      `kubectl exec -n ${ns} deploy/front -c envoy -- ${perl} ${module} ${e} '${script}' ${socket} ${adminPath}`,
    );
    assert.match(
      verify.sdsClusterHealth,
      /^kubectl exec -n \S+ deploy\/front -c envoy -- perl .* \/run\/envoy-admin\/admin\.sock \/clusters \| grep -E '\(static_cluster_sds/,
    );
    assert.doesNotMatch(JSON.stringify(verify), /9901|port-forward/);
  });

  it("appmesh: gives Step 4's SDS cluster check, /certs and cluster health on the envoy sidecar's admin port", async () => {
    const verify = (await renderStack("dev", appMesh)).outputs.verify as Verify;
    assert.equal(
      verify.sdsClusterHealth,
      `kubectl exec -n ${ns} deploy/front -c envoy -- curl -s http://localhost:9901/clusters | grep -E '(static_cluster_sds.*cx_active|static_cluster_sds.*healthy)'`,
    );
    assert.deepEqual(Object.keys(verify.certs).sort(), ["blue", "front", "green", "red"]);
    assert.equal(
      verify.certs.green,
      `kubectl exec -n ${ns} deploy/green -c envoy -- curl -s http://localhost:9901/certs`,
    );
    assert.match(verify.clusterHealth, /\/clusters \| grep -E '\(\(blue\|green\|red\)\.\*health_flags\)'$/);
  });

  it("gives the ssl.handshake stats on front and on each backend", async () => {
    const { handshakes } = (await renderStack("dev", appMesh)).outputs.verify as Verify;
    for (const w of ["front", "blue", "green", "red"]) {
      assert.equal(
        handshakes[w],
        `kubectl exec -n ${ns} deploy/${w} -c envoy -- curl -s http://localhost:9901/stats | grep ssl.handshake`,
      );
    }
  });

  it("gives one curler command per colour header, against front", () => {
    const { curl } = outputs.verify as Verify;
    assert.deepEqual(Object.keys(curl).sort(), ["blue", "green", "red"]);
    assert.equal(
      curl.blue,
      "kubectl run curler-blue -n default --rm -i --restart=Never --image=public.ecr.aws/k8m1l3p1/alpine/curler:latest -- " +
        `curl -s -H 'color_header: blue' http://front.${ns}.svc.cluster.local:8080/`,
    );
  });

  it("writes the walkthrough's registerGreen step as a config change", () => {
    assert.equal(
      (outputs.verify as Verify).registerGreen,
      "pulumi config set registerGreen true && pulumi up",
    );
  });

  it("shows the registered identities: green only after registerGreen", async () => {
    const td = "spiffe://howto-k8s-mtls-sds-based.aws";
    assert.ok(!(outputs.registeredIdentities as string[]).includes(`${td}/colorgreen`));
    const green = await renderStack("dev", { registerGreen: "true" });
    assert.ok((green.outputs.registeredIdentities as string[]).includes(`${td}/colorgreen`));
  });

  describe("gateway=true", () => {
    const gatewayHost = `gateway.${ns}.svc.cluster.local:8088`;

    it("a curler command per colour through the gateway's /color route, and the gateway's handshake counters", async () => {
      const verify = (await renderStack("dev", { gateway: "true" })).outputs.verify as Verify & {
        gatewayCurl: Record<string, string>;
        gatewayHandshakes: string;
      };
      assert.deepEqual(Object.keys(verify.gatewayCurl).sort(), ["blue", "green", "red"]);
      assert.equal(
        verify.gatewayCurl.red,
        "kubectl run curler-gateway-red -n default --rm -i --restart=Never --image=public.ecr.aws/k8m1l3p1/alpine/curler:latest -- " +
          `curl -s -H 'color_header: red' http://${gatewayHost}/color`,
      );
      assert.match(
        verify.gatewayHandshakes,
        /^kubectl exec -n \S+ deploy\/gateway -c envoy -- perl .* \/run\/envoy-admin\/admin\.sock \/stats \| grep ssl\.handshake$/,
      );
    });

    it("with gatewayCallers the listener is STRICT: no curler gets in, so there is no gatewayCurl", async () => {
      const verify = (
        await renderStack("dev", {
          gateway: "true",
          gatewayCallers: "spiffe://howto-k8s-mtls-sds-based.aws/front",
        })
      ).outputs.verify as Record<string, unknown>;
      assert.equal(verify.gatewayCurl, undefined);
      assert.match(String(verify.gatewayHandshakes), /deploy\/gateway .*grep ssl\.handshake$/);
    });

    it("gateway=false (the default) outputs neither", () => {
      const verify = outputs.verify as Record<string, unknown>;
      assert.deepEqual([verify.gatewayCurl, verify.gatewayHandshakes], [undefined, undefined]);
    });
  });

  it("the EKS stack creates the cluster and outputs its kubeconfig as a marked placeholder", async () => {
    const eks = await renderStack("eks");
    assert.match(String(eks.outputs.kubeconfig), /^<placeholder: kubeconfig of EKS cluster/);
    const cluster = eks.resources.find((r) => r.type === "eks:index:Cluster");
    const inputs = cluster?.inputs as Record<string, unknown>;
    assert.deepEqual([inputs.name, inputs.version], ["eks-howto", "1.35"]);
  });
});
