/**
 * What the real-engine suites expect of dev's entries on the server, and how they read engine output: shared by
 * the dev stack's own steps and by the stacks that run next to it.
 */
import * as path from "node:path";
import { type E2eCluster, serverEntries } from "./support";

export const REPO_ROOT = path.resolve(__dirname, "../..");

export const TD = "spiffe://howto-k8s-mtls-sds-based.aws";
export const AGENT_ALIAS = `${TD}/ns/spire/sa/spire-agent`;

// biome-ignore lint/suspicious/noExplicitAny: engine JSON is read loosely.
export type Json = any;

/** "type name" of a URN; the type without its parents' types. */
export const typeAndName = (urn: string) => `${urn.split("::")[2].split("$").pop()} ${urn.split("::")[3]}`;

/** Steps of a `preview --json`, as "op type name" strings, with the unchanged ones left out. */
export const changes = (preview: Json): string[] =>
  (preview.steps ?? [])
    .filter((s: Json) => s.op !== "same")
    .map((s: Json) => `${s.op} ${typeAndName(s.urn)}`)
    .sort();

export const entryView = (e: Json) => ({
  id: e.id,
  spiffeId: `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`,
  parentId: `spiffe://${e.parent_id.trust_domain}${e.parent_id.path}`,
  selectors: e.selectors.map((s: Json) => `${s.type}:${s.value}`).sort(),
  ttl: e.x509_svid_ttl,
});

export const workload = (name: string, account: string, labels: string[], ttl: number) => ({
  id: `spire-mesh.dev.${name}`,
  spiffeId: `${TD}/${name}`,
  parentId: AGENT_ALIAS,
  selectors: [
    "k8s:container-name:envoy",
    "k8s:ns:howto-k8s-mtls-sds-based",
    ...labels,
    `k8s:sa:${account}`,
  ].sort(),
  ttl,
});
export const colour = (c: string, ttl: number) =>
  workload(`color${c}`, c, ["k8s:pod-label:app:color", `k8s:pod-label:version:${c}`], ttl);

export const walkthroughEntries = (ttl: number, green = false) =>
  [
    {
      id: "spire-mesh.dev.spire-agent",
      spiffeId: AGENT_ALIAS,
      parentId: `${TD}/spire/server`,
      selectors: ["k8s_psat:agent_ns:spire", "k8s_psat:agent_sa:spire-agent", "k8s_psat:cluster:k8s-cluster"],
      ttl: 0,
    },
    workload("front", "front", ["k8s:pod-label:app:front"], ttl),
    colour("blue", ttl),
    ...(green ? [colour("green", ttl)] : []),
    colour("red", ttl),
  ].sort((a, b) => a.id.localeCompare(b.id));

/** Dev's entries from step 7 on, when the ingress gateway (issue 13) has joined the walkthrough's, green included. */
export const withGateway = (ttl: number) =>
  [...walkthroughEntries(ttl, true), workload("gateway", "gateway", ["k8s:pod-label:app:gateway"], ttl)].sort(
    (a, b) => a.id.localeCompare(b.id),
  );

/** The server's entries as the assertions compare them, sorted by ID. */
export const entriesOn = (cluster: E2eCluster, namespace?: string) =>
  serverEntries(cluster.state, namespace)
    .map(entryView)
    .sort((a, b) => a.id.localeCompare(b.id));

/** A drift report's entries (bin/spire-drift.js), each with the lines of its differing fields, in a stable order. */
export const driftReported = (out: string): string[][] =>
  out
    .split(/\n(?= {2}\S)/)
    .slice(1)
    .map((block) => block.split("\n").filter((l) => l.startsWith("  ")))
    .sort((a, b) => a[0].localeCompare(b[0]));
