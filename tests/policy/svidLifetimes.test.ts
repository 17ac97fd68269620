/**
 * svid-lifetimes on what the library writes: server.conf from renderServerConf and entry commands from
 * entryPlans, as a stack: the server's ConfigMap and each SpireEntry's command.
 */
import assert from "node:assert/strict";
import { SVID_LIFETIMES } from "../../policy/policies";
import { svidLifetimesPolicy } from "../../policy/rules/svidLifetimes";
import { formatSeconds, parseGoDuration } from "../../policy/support";
import { runStackPolicy, testResource, UNKNOWN } from "../../policy/testing";
import { renderServerConf } from "../../spire/config";
import { entryCommands, entryPlans, resolveEntry } from "../../spire/entries";
import { entrySetCommand, entrySetCommands, resolveEntrySet } from "../../spire/entrySet";
import { spireSettings } from "../../spire/settings";

const TD = "example.org";
const DESCRIPTION = svidLifetimesPolicy.description;
const OVERLAP = "(caTtlRatio) so that rotation at half-life always overlaps";

const serverConfigMap = (svidTtl: string, caTtl: string) =>
  testResource("kubernetes:core/v1:ConfigMap", "spire-server-config", {
    metadata: { name: "spire-server", namespace: "spire" },
    data: {
      "server.conf": renderServerConf(spireSettings({ trustDomain: TD, x509SvidTtl: svidTtl, caTtl })),
    },
  });

/** A SpireEntry component and its command, with the plans SpireEntry really passes. */
const entry = (name: string, ttl?: string) => {
  const resolved = resolveEntry(
    `SpireEntry ${name}`,
    `spire-mesh.dev.${name}`,
    {
      spiffeId: `spiffe://${TD}/${name}`,
      parentId: `spiffe://${TD}/agent`,
      selectors: ["k8s:ns:shop"],
      x509SvidTtl: ttl,
    },
    { trustDomain: TD, selectorTypes: ["k8s"] },
  );
  const plans = entryPlans(entryCommands(["spire-server"], resolved), resolved);
  const component = testResource("spire-mesh:index:SpireEntry", name, { spiffeId: resolved.spiffeId });
  const command = testResource(
    "command:local:Command",
    `${name}-entry`,
    { ...plans, interpreter: ["node", "bin/spire-entry.js"] },
    { parent: component },
  );
  return [component, command];
};

/** A SpireEntrySet component and its command, with the batch plan on stdin as SpireEntrySet passes it. */
const entrySet = (name: string, ttls: readonly string[]) => {
  const members = ttls.map((ttl, i) => ({
    name: `m${i}`,
    spiffeId: `spiffe://${TD}/${name}/${i}`,
    parentId: `spiffe://${TD}/agent`,
    selectors: [`k8s:ns:${name}${i}`],
    x509SvidTtl: ttl,
  }));
  const resolved = resolveEntrySet(`SpireEntrySet ${name}`, "spire-mesh", "dev", members, {
    trustDomain: TD,
    selectorTypes: ["k8s"],
  });
  const plan = entrySetCommand(entrySetCommands(["spire-server"]), resolved);
  const component = testResource("spire-mesh:index:SpireEntrySet", name, {});
  const command = testResource(
    "command:local:Command",
    `${name}-entries`,
    { ...plan, interpreter: ["node", "bin/spire-entry-set.js"] },
    { parent: component },
  );
  return [component, command];
};

const shown = async (...args: Parameters<typeof runStackPolicy>) =>
  (await runStackPolicy(...args)).map((v) => `${v.urn?.split("::").pop()}: ${v.message.split("\n")[1]}`);

describe(`policy ${SVID_LIFETIMES}`, () => {
  it("reads Go durations the way SPIRE's HCL takes them", () => {
    assert.equal(parseGoDuration("1h30m"), 5400);
    assert.equal(parseGoDuration("1.5h"), 5400);
    assert.equal(parseGoDuration("300ms"), 0.3);
    assert.equal(parseGoDuration("1d"), undefined);
    assert.equal(formatSeconds(5400), "1h30m");
  });

  it("passes the walkthrough's lifetimes: 1h SVIDs under a 24h CA", async () => {
    const stack = [serverConfigMap("1h", "24h"), ...entry("front", "1h"), ...entry("blue")];
    assert.deepEqual(await runStackPolicy(svidLifetimesPolicy, stack), []);
  });

  it("fails a ca_ttl under 6 × the longest SVID TTL, naming where that TTL comes from", async () => {
    const stack = [serverConfigMap("1h", "24h"), ...entry("front", "5h"), ...entry("blue", "5h")];
    const violations = await runStackPolicy(svidLifetimesPolicy, stack);
    assert.deepEqual(
      violations.map((v) => [v.level, v.message]),
      [
        [
          "mandatory",
          `${DESCRIPTION}\nConfigMap spire/spire-server server.conf: ca_ttl = "24h" is less than 6 × the longest SVID TTL 5h ` +
            `(SpireEntry front -x509SVIDTTL, SpireEntry blue -x509SVIDTTL): ca_ttl must be at least 30h ${OVERLAP}`,
        ],
      ],
    );
    assert.equal(violations[0].urn, stack[0].urn);
  });

  it("fails TTLs outside the bounds, on the server and on the entry that has them", async () => {
    const stack = [serverConfigMap("2m", "48h"), ...entry("front", "48h")];
    assert.deepEqual(await shown(svidLifetimesPolicy, stack, { caTtlRatio: 1 }), [
      'spire-server-config: ConfigMap spire/spire-server server.conf: default_x509_svid_ttl = "2m": outside the SVID lifetime bounds 5m-24h (minSvidTtl-maxSvidTtl)',
      "front: SpireEntry front: -x509SVIDTTL = 172800 (48h): outside the SVID lifetime bounds 5m-24h (minSvidTtl-maxSvidTtl)",
    ]);
  });

  it("takes the bounds and the ratio from config", async () => {
    const stack = [serverConfigMap("1h", "24h"), ...entry("front", "2m")];
    assert.deepEqual(await runStackPolicy(svidLifetimesPolicy, stack, { minSvidTtl: "1m" }), []);
    assert.deepEqual(await shown(svidLifetimesPolicy, stack, { minSvidTtl: "1m", caTtlRatio: 48 }), [
      `spire-server-config: ConfigMap spire/spire-server server.conf: ca_ttl = "24h" is less than 48 × the longest SVID TTL 1h (default_x509_svid_ttl): ca_ttl must be at least 48h ${OVERLAP}`,
    ]);
  });

  it("applies SPIRE's defaults (ca_ttl 24h, SVIDs 1h) to a server.conf that leaves them out", async () => {
    const bare = testResource("kubernetes:core/v1:ConfigMap", "server", {
      metadata: { name: "server", namespace: "spire" },
      data: { "server.conf": 'server {\n  trust_domain = "example.org"\n}\n' },
    });
    assert.deepEqual(await runStackPolicy(svidLifetimesPolicy, [bare, ...entry("front", "5h")]), [
      {
        policy: SVID_LIFETIMES,
        level: "mandatory",
        message: `${DESCRIPTION}\nConfigMap spire/server server.conf: ca_ttl = "24h" is less than 6 × the longest SVID TTL 5h (SpireEntry front -x509SVIDTTL): ca_ttl must be at least 30h ${OVERLAP}`,
        urn: bare.urn,
      },
    ]);
  });

  it("reads a SpireEntrySet's x509_svid_ttl from the batch plan on its command's stdin", async () => {
    assert.deepEqual(
      await runStackPolicy(svidLifetimesPolicy, [
        serverConfigMap("1h", "24h"),
        ...entrySet("shop", ["1h", "2h"]),
      ]),
      [],
    );
    assert.deepEqual(
      await shown(svidLifetimesPolicy, [serverConfigMap("1h", "24h"), ...entrySet("shop", ["1h", "48h"])]),
      [
        "shop: SpireEntrySet shop: x509_svid_ttl = 172800 (48h): outside the SVID lifetime bounds 5m-24h (minSvidTtl-maxSvidTtl)",
        `spire-server-config: ConfigMap spire/spire-server server.conf: ca_ttl = "24h" is less than 6 × the longest SVID TTL 48h (SpireEntrySet shop x509_svid_ttl): ca_ttl must be at least 288h ${OVERLAP}`,
      ],
    );
  });

  it("reads a shell command's -x509SVIDTTL too, and skips commands unknown during preview", async () => {
    const shell = testResource("command:local:Command", "register", {
      create: "spire-server entry create -spiffeID spiffe://example.org/x -x509SVIDTTL 60",
    });
    const late = testResource("command:local:Command", "late", { create: UNKNOWN });
    assert.deepEqual(await shown(svidLifetimesPolicy, [shell, late]), [
      "register: Command register: -x509SVIDTTL = 60 (1m): outside the SVID lifetime bounds 5m-24h (minSvidTtl-maxSvidTtl)",
    ]);
  });
});
