/**
 * MeshWorkload checks its arguments once, in its builder, and its children (MtlsVirtualNode, SpireEntry) take
 * the plan instead of checking again: counted at the checkers themselves while a workload and a gateway are
 * built (each builder module's export is wrapped; the components call it through the module object).
 */
import assert from "node:assert/strict";
import { MeshWorkload, MtlsVirtualGateway, type SpireInstallation, TlsMode } from "../../components";
import * as callers from "../../mesh/callers";
import * as meshNode from "../../mesh/meshNode";
import * as entries from "../../spire/entries";
import { construct, walkthroughInstallation } from "../support/mocks";

type Counted = { calls: number; fields: string[]; restore: () => void };

/** Wraps `module[key]` so that each call is counted; `restore` puts the original back. */
function count<M extends object>(module: M, key: keyof M & string): Counted {
  const original = module[key] as unknown as (...a: unknown[]) => unknown;
  const counted: Counted = {
    calls: 0,
    fields: [],
    restore: () => Object.assign(module, { [key]: original }),
  };
  Object.assign(module, {
    [key]: (...a: unknown[]) => {
      counted.calls++;
      // checkCallers(c, callers, rules): which list it checked, by its first caller's field.
      const rules = a[2] as { at?: (i: number) => string } | undefined;
      if (typeof rules?.at === "function") counted.fields.push(rules.at(0));
      return original(...a);
    },
  });
  return counted;
}

const app = { name: "app", image: "node:20-alpine" };

describe("MeshWorkload checks once and hands its plan to its children", () => {
  let counters: Record<string, Counted>;
  beforeEach(() => {
    counters = {
      checkCallers: count(callers, "checkCallers"),
      meshNodePlan: count(meshNode, "meshNodePlan"),
      resolveEntry: count(entries, "resolveEntry"),
    };
  });
  afterEach(() => {
    for (const c of Object.values(counters)) c.restore();
  });

  it("a workload with callers: one caller check, one node plan, one entry resolution", async () => {
    let front: MeshWorkload | undefined;
    const recording = await construct(() => {
      const installation = walkthroughInstallation();
      front = new MeshWorkload("front", { namespace: "shop", installation, containers: [app] });
      return new MeshWorkload("api", {
        namespace: "shop",
        installation,
        containers: [app],
        callers: [front, "spiffe://howto-k8s-mtls-sds-based.aws/ns/ops/sa/probe"],
      });
    });
    assert.ok(recording.value instanceof MeshWorkload, String(recording.value));
    // Two workloads built: once each, where before the node's plan and the entry ran twice and callers thrice.
    assert.deepEqual(Object.fromEntries(Object.entries(counters).map(([k, c]) => [k, c.calls])), {
      checkCallers: 2,
      meshNodePlan: 2,
      resolveEntry: 2,
    });
  });

  it("a gateway: its callers checked once (by its listener), its entry resolved once", async () => {
    const recording = await construct(() => {
      const installation: SpireInstallation = walkthroughInstallation();
      const gatewayId = MtlsVirtualGateway.identityOf(installation, { name: "edge", namespace: "shop" });
      const web = new MeshWorkload("web", {
        namespace: "shop",
        installation,
        containers: [app],
        callers: [gatewayId],
      });
      for (const c of Object.values(counters)) {
        c.calls = 0;
        c.fields.length = 0;
      }
      return new MtlsVirtualGateway("edge", {
        namespace: "shop",
        installation,
        listener: { tlsMode: TlsMode.Strict, callers: [web] },
        backends: [web],
        routes: [{ prefix: "/", virtualService: "web" }],
      });
    });
    assert.ok(recording.value instanceof MtlsVirtualGateway, String(recording.value));
    // Its own list once; the other is its backend web's spec, which its egress reads (port, protocol, identity).
    assert.deepEqual(counters.checkCallers.fields, ["listener.callers[0]", "allowedCallers[0]"]);
    assert.equal(counters.resolveEntry.calls, 1, "resolveEntry");
  });
});
