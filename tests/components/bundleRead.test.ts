/**
 * A federated installation's exported `bundle` is read with the `command:local:run` invoke on every `up` (a CA
 * rotation changes no input, so a command resource would keep the bundle of its create), and never at preview,
 * where a PR's read-only kubeconfig cannot exec. The real engine and server: tests/e2e/federation.test.ts.
 */
import assert from "node:assert/strict";
import type * as pulumi from "@pulumi/pulumi";
import { SpireInstallation } from "../../components";
import { record } from "../../render/runtime";
import { runnerInterpreter } from "../../spire/runners";
import { testScope } from "../support/mocks";

const federated = () =>
  new SpireInstallation("spire", {
    trustDomain: "west.example",
    federation: { bundleEndpoint: { serviceType: "ClusterIP" } },
    commandEnvironment: { SPIRE_MESH_KUBE_CONTEXT: "west" },
  });

/** Whether an Output is known, and its value when it is. */
const settle = (o: pulumi.Output<string> | undefined) =>
  new Promise<{ known: boolean; value?: string }>((done) => {
    if (!o) throw new Error("no bundle output");
    const internal = o as unknown as { isKnown: Promise<boolean>; promise(): Promise<string> };
    Promise.all([internal.isKnown, internal.promise()]).then(([known, value]) => done({ known, value }));
  });

describe("SpireInstallation: the exported bundle", () => {
  it("up: read by one command:local:run of the runner's show plan, with logging off; no command resource keeps a copy", async () => {
    const { invokes, resources, value } = await record(testScope, async () => settle(federated().bundle));
    const runs = invokes.filter((i) => i.token === "command:local:run");
    assert.equal(runs.length, 1, JSON.stringify(invokes));
    const [run] = runs;
    assert.deepEqual(run.args.interpreter, runnerInterpreter("spire-bundle.js"));
    assert.equal(run.args.logging, "none");
    assert.equal((run.args.environment as Record<string, string>).SPIRE_MESH_KUBE_CONTEXT, "west");
    const plan = JSON.parse(run.args.command as string);
    assert.equal(plan.step, "show");
    assert.deepEqual(plan.show.slice(plan.show.indexOf("bundle")), ["bundle", "show", "-format", "spiffe"]);
    assert.deepEqual(value, {
      known: true,
      value: "<placeholder: stdout of command:local:run, known after pulumi up>",
    });
    const commands = resources.filter((r) => r.type === "command:local:Command");
    assert.ok(
      !commands.some((c) => String(c.inputs.create).includes('"step":"show"')),
      "a command resource would export the bundle of its last run",
    );
  });

  it("preview: nothing is run (no exec with a read-only kubeconfig), and the bundle is unknown", async () => {
    const { invokes, value } = await record({ ...testScope, preview: true }, async () =>
      settle(federated().bundle),
    );
    assert.deepEqual(invokes, []);
    assert.equal(value.known, false);
  });
});
