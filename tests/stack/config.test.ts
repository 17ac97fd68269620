/** Stack config: every key declared, and bad config reported as one error naming every problem. */
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError } from "../../core/validation";
import { record } from "../../render/runtime";
import { declaredConfig, readStackConfig } from "../../stack/config";
import { renderStack } from "../support/render";

async function configError(overrides: Record<string, string>): Promise<ValidationError> {
  try {
    await renderStack("dev", overrides);
  } catch (e) {
    const cause = (e as Error & { cause?: unknown }).cause ?? e;
    if (cause instanceof ValidationError) return cause;
    throw e;
  }
  assert.fail("the render should have failed");
}

describe("stack config", () => {
  it("Pulumi.yaml declares every key with a type, a default and a description", () => {
    const declared = declaredConfig();
    assert.ok(Object.keys(declared).length >= 20);
    for (const [key, d] of Object.entries(declared)) {
      assert.ok(["string", "integer", "boolean"].includes(d.type), `${key} type`);
      assert.notEqual(d.default, undefined, `${key} default`);
      assert.ok((d.description ?? "").length > 10, `${key} description`);
    }
  });

  it("lists an unknown key, a wrong type, an out-of-range value and a conflict in one error", async () => {
    const error = await configError({
      trustDomian: "typo.example",
      registerGreen: "yes",
      eksNodesPerZone: "0",
      cluster: "eks",
      kubeContext: "kind-dev",
      svidTtl: "48h",
    });
    const rules = (field: string) =>
      error.problems
        .filter((p) => p.field === field)
        .map((p) => p.rule)
        .join("; ");
    const byField = { get: rules };
    assert.match(byField.get("trustDomian") ?? "", /not a config key/);
    assert.match(byField.get("registerGreen") ?? "", /true or false/);
    assert.match(byField.get("eksNodesPerZone") ?? "", /between 1 and 20/);
    assert.match(byField.get("kubeContext") ?? "", /conflicts with cluster=eks/);
    assert.match(
      byField.get("caTtl") ?? "",
      /at least 6x x509SvidTtl/,
      "component checks are reported under config keys",
    );
    assert.match(error.message, /registerGreen = "yes"/);
  });

  it("rejects a data plane, cluster or SPIRE mode it does not know", async () => {
    const error = await configError({ dataPlane: "istio", cluster: "gke", spire: "helm" });
    assert.deepEqual(error.problems.map((p) => p.field).sort(), ["cluster", "dataPlane", "spire"]);
  });

  it("spire=existing needs the server's namespace and pod; install rejects the existing-only keys", async () => {
    const missing = await configError({ spire: "existing" });
    assert.deepEqual(missing.problems.map((p) => p.field).sort(), [
      "spireExistingKubernetesVersion",
      "spireExistingNamespace",
      "spireExistingServerPod",
    ]);
    const stray = await configError({ spireExistingServerPod: "spire-server-0" });
    assert.deepEqual(
      stray.problems.map((p) => p.field),
      ["spireExistingServerPod"],
    );
  });

  it("reports component rules under config key names (trust domain, namespace)", async () => {
    const error = await configError({ trustDomain: "Upper.Case", appNamespace: "Not_A_Namespace" });
    const fields = error.problems.map((p) => p.field);
    assert.ok(fields.includes("trustDomain"), fields.join());
    assert.ok(fields.includes("appNamespace"), fields.join());
  });

  it("gatewayCallers: only with gateway=true, and each caller a SPIFFE ID of the trust domain, named by its key", async () => {
    const stray = await configError({ gatewayCallers: "spiffe://howto-k8s-mtls-sds-based.aws/front" });
    assert.deepEqual(
      stray.problems.map((p) => [p.field, p.rule]),
      [["gatewayCallers", "only applies when gateway=true"]],
    );
    const foreign = await configError({
      gateway: "true",
      gatewayCallers: "spiffe://howto-k8s-mtls-sds-based.aws/front, spiffe://other.example/front",
    });
    assert.deepEqual(
      foreign.problems.map((p) => [p.field, p.value]),
      [["gatewayCallers", "spiffe://other.example/front"]],
    );
    assert.match(foreign.problems[0].rule, /trust domain/);
  });

  it("never prints a secret value: a mistyped secret key is named, its value is not", async () => {
    const leaked = "apiVersion: v1\nusers: [{name: admin, user: {token: s3cr3t-t0ken}}]";
    const { value } = await record({ project: "spire-mesh", stack: "dev" }, () => {
      pulumi.runtime.setAllConfig({ "spire-mesh:kubeConfig": leaked, "spire-mesh:registerGreen": "maybe" }, [
        "spire-mesh:kubeConfig",
      ]);
      try {
        readStackConfig();
      } catch (e) {
        return e as Error;
      }
      return undefined;
    });
    assert.ok(value instanceof ValidationError);
    assert.match(value.message, /kubeConfig = "\[secret\]": is not a config key of spire-mesh/);
    assert.match(value.message, /registerGreen = "maybe"/, "plain values are still shown");
    assert.doesNotMatch(value.message, /s3cr3t/);
  });
  it("refuses an inline kubeconfig that is not a secret, naming the key and never its contents", async () => {
    const inline = "apiVersion: v1\nusers: [{name: admin, user: {token: pl4in-t0ken}}]";
    const read = (config: Record<string, string>, secretKeys: string[] = []) =>
      record({ project: "spire-mesh", stack: "dev" }, () => {
        pulumi.runtime.setAllConfig(config, secretKeys);
        try {
          return readStackConfig();
        } catch (e) {
          return e as Error;
        }
      });
    const plain = (await read({ "spire-mesh:kubeconfig": inline })).value;
    assert.ok(plain instanceof ValidationError, String(plain));
    assert.deepEqual(
      plain.problems.map((p) => p.field),
      ["kubeconfig"],
    );
    assert.match(
      plain.message,
      /kubeconfig = .*: holds a kubeconfig's contents in plain text: set it with `pulumi config set --secret kubeconfig`/,
    );
    assert.doesNotMatch(plain.message, /pl4in-t0ken/);
    // The same contents as a secret, and a path in plain text, are accepted.
    const secret = (await read({ "spire-mesh:kubeconfig": inline }, ["spire-mesh:kubeconfig"])).value;
    assert.ok(!(secret instanceof Error), String(secret));
    const file = (await read({ "spire-mesh:kubeconfig": "/home/ci/.kube/config" })).value;
    assert.ok(!(file instanceof Error), String(file));
  });
});
