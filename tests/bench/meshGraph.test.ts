/** bench/mesh-scale's seeded service graph and the checks on its config. */
import assert from "node:assert/strict";
import { checkGraphConfig, type GraphConfig, meshGraph } from "../../bench/mesh-scale/graph";
import { ValidationError } from "../../core/validation";

const config = (over: Partial<GraphConfig> = {}): GraphConfig => ({
  services: 1000,
  namespaces: 4,
  seed: 1,
  maxBackends: 3,
  ...over,
});

/** What a service drew, without the callers later services add. */
const draws = (c: GraphConfig) =>
  meshGraph(c).services.map(({ name, namespace, protocol, backends, gated }) => ({
    name,
    namespace,
    protocol,
    backends,
    gated,
  }));

function problemsOf(raw: Record<string, unknown>) {
  try {
    checkGraphConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ValidationError, String(e));
    return e;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
}

describe("bench/mesh-scale graph", () => {
  it("is the same mesh for the same seed and another for another seed", () => {
    assert.deepEqual(meshGraph(config()), meshGraph(config()));
    assert.notDeepEqual(draws(config()), draws(config({ seed: 2 })));
  });

  it("gives each service 1 to maxBackends distinct earlier backends, callers the exact inverse", () => {
    const { services } = meshGraph(config());
    const counts = new Set<number>();
    for (const s of services) {
      assert.equal(new Set(s.backends).size, s.backends.length, s.name);
      assert.ok(
        s.backends.every((b) => b < s.index),
        `${s.name} calls only services created before it`,
      );
      if (s.index >= 3) assert.ok(s.backends.length >= 1 && s.backends.length <= 3, s.name);
      counts.add(s.backends.length);
      for (const c of s.callers) assert.ok(services[c].backends.includes(s.index), `${s.name} <- svc-${c}`);
    }
    assert.deepEqual([...counts].sort(), [0, 1, 2, 3]);
    const edges = services.reduce((n, s) => n + s.backends.length, 0);
    assert.equal(
      services.reduce((n, s) => n + s.callers.length, 0),
      edges,
    );
    assert.ok(
      meshGraph(config({ maxBackends: 1 })).services.every((s) => s.backends.length === Math.min(1, s.index)),
    );
  });

  it("mixes http, grpc and tcp, gates about a tenth (all http), one gateway per namespace in front of its own", () => {
    const { services, gateways } = meshGraph(config());
    const byProtocol = (p: string) => services.filter((s) => s.protocol === p).length;
    for (const p of ["http", "grpc", "tcp"]) assert.ok(byProtocol(p) > 150, `${p}: ${byProtocol(p)}`);
    const gated = services.filter((s) => s.gated);
    assert.ok(gated.length >= 70 && gated.length <= 130, `gated: ${gated.length}`);
    assert.ok(gated.every((s) => s.protocol === "http"));
    assert.deepEqual(
      gateways.map((g) => g.namespace),
      ["bench-0", "bench-1", "bench-2", "bench-3"],
    );
    for (const g of gateways)
      assert.deepEqual(
        g.targets,
        gated.filter((s) => s.namespace === g.namespace).map((s) => s.index),
      );
    assert.deepEqual([...new Set(services.map((s) => s.namespace))].sort(), [
      "bench-0",
      "bench-1",
      "bench-2",
      "bench-3",
    ]);
  });

  it("keeps every existing service's draws when ten are added", () => {
    const before = draws(config({ services: 200 }));
    const after = draws(config({ services: 210 }));
    assert.deepEqual(after.slice(0, 200), before);
    assert.equal(after.length, 210);
  });
});

describe("bench/mesh-scale config", () => {
  it("reads Pulumi's strings and fills the defaults", () => {
    assert.deepEqual(checkGraphConfig({ services: "200" }), config({ services: 200 }));
    assert.deepEqual(checkGraphConfig({ services: "50", namespaces: "2", seed: "7", maxBackends: "1" }), {
      services: 50,
      namespaces: 2,
      seed: 7,
      maxBackends: 1,
    });
  });

  it("names field, value and rule of every bad value at once", () => {
    const e = problemsOf({ services: "lots", namespaces: "0", seed: "-1", maxBackends: "4" });
    assert.deepEqual(
      e.problems.map((p) => [p.field, p.value]),
      [
        ["services", "lots"],
        ["namespaces", "0"],
        ["seed", "-1"],
        ["maxBackends", "4"],
      ],
    );
    assert.match(e.message, /services = "lots": must be an integer from 2 to 5000/);
    assert.match(e.message, /maxBackends = "4": must be an integer from 1 to 3/);
  });

  it("refuses a missing or out-of-range size, and more namespaces than services", () => {
    assert.match(problemsOf({}).message, /services = \(missing\): must be an integer from 2 to 5000/);
    assert.match(problemsOf({ services: "1" }).message, /services = "1"/);
    assert.match(problemsOf({ services: "5001" }).message, /services = "5001"/);
    assert.match(problemsOf({ services: "2.5" }).message, /services = "2.5"/);
    assert.match(
      problemsOf({ services: "3", namespaces: "4" }).message,
      /namespaces = "4": must be at most services \(3\)/,
    );
  });
});
