/** Bad SpireInstallation arguments fail at construction, name field, value and rule, and register nothing. */
import assert from "node:assert/strict";
import { SpireInstallation, type SpireInstallationArgs } from "../../components";
import { ValidationError } from "../../core/validation";
import { construct } from "../support/mocks";

const td = "howto-k8s-mtls-sds-based.aws";
const existing = { namespace: "spire", serverPod: "spire-server-0", kubernetesVersion: "1.33" };

// [case, args, field, value as printed, a phrase of the rule]
const badArgs: [string, SpireInstallationArgs, string, string, RegExp][] = [
  ["uppercase trust domain", { trustDomain: "Example.org" }, "trustDomain", '"Example.org"', /lowercase/],
  [
    "trust domain with a port",
    { trustDomain: "example.org:8443" },
    "trustDomain",
    '"example.org:8443"',
    /no scheme, port or path/,
  ],
  [
    "trust domain with a path",
    { trustDomain: "example.org/ns" },
    "trustDomain",
    '"example.org/ns"',
    /no scheme, port or path/,
  ],
  [
    "trust domain given as an ID",
    { trustDomain: "spiffe://example.org" },
    "trustDomain",
    '"spiffe://example.org"',
    /characters/,
  ],
  ["empty trust domain", { trustDomain: "" }, "trustDomain", '""', /missing/],
  [
    "TTL that is not a duration",
    { trustDomain: td, x509SvidTtl: "1 hour" },
    "x509SvidTtl",
    '"1 hour"',
    /duration/,
  ],
  ["zero TTL", { trustDomain: td, x509SvidTtl: "0s" }, "x509SvidTtl", '"0s"', /longer than 0s/],
  ["CA TTL in days", { trustDomain: td, caTtl: "1d" }, "caTtl", '"1d"', /units h, m, s/],
  [
    "CA TTL shorter than the SVID TTL",
    { trustDomain: td, x509SvidTtl: "2h", caTtl: "1h" },
    "caTtl",
    '"1h"',
    /at least 6x x509SvidTtl/,
  ],
  [
    "CA TTL equal to the SVID TTL",
    { trustDomain: td, x509SvidTtl: "1h", caTtl: "1h" },
    "caTtl",
    '"1h"',
    /at least 6x x509SvidTtl/,
  ],
  [
    "CA TTL of 5x the SVID TTL (SPIRE warns; rotation would not overlap)",
    { trustDomain: td, x509SvidTtl: "4h", caTtl: "20h" },
    "caTtl",
    '"20h"',
    /at least 6x x509SvidTtl/,
  ],
  ["empty cluster name", { trustDomain: td, clusterName: "" }, "clusterName", '""', /1-63 characters/],
  [
    "cluster name with a space",
    { trustDomain: td, clusterName: "my cluster" },
    "clusterName",
    '"my cluster"',
    /1-63 characters/,
  ],
  [
    "existing without its pod",
    { trustDomain: td, existing: { namespace: "spire" } as never },
    "existing.serverPod",
    "(missing)",
    /server pod/,
  ],
  [
    "existing with install-only args",
    { trustDomain: td, existing, storageSize: "5Gi" },
    "existing",
    '["namespace","serverPod","kubernetesVersion"]',
    /conflicts with install-only arguments storageSize/,
  ],
  ["server port 0", { trustDomain: td, serverPort: 0 }, "serverPort", "0", /1-65535/],
  ["server port above 65535", { trustDomain: td, serverPort: 70000 }, "serverPort", "70000", /1-65535/],
  [
    "storage size that is no quantity",
    { trustDomain: td, storageSize: "lots" },
    "storageSize",
    '"lots"',
    /quantity/,
  ],
  [
    "namespace with uppercase",
    { trustDomain: td, namespace: "Spire_NS" },
    "namespace",
    '"Spire_NS"',
    /RFC 1123/,
  ],
  [
    "unknown CA key type",
    { trustDomain: td, caKeyType: "rsa-1024" },
    "caKeyType",
    '"rsa-1024"',
    /one of rsa-2048/,
  ],
  ["unknown log level", { trustDomain: td, logLevel: "verbose" }, "logLevel", '"verbose"', /one of DEBUG/],
  [
    "relative socket directory",
    { trustDomain: td, agentSocketDir: "run/spire" },
    "agentSocketDir",
    '"run/spire"',
    /absolute path/,
  ],
  [
    "socket directory too long for a Unix socket",
    { trustDomain: td, agentSocketDir: `/${"d".repeat(100)}` },
    "agentSocketDir",
    `"/${"d".repeat(100)}"`,
    /108 bytes/,
  ],
  [
    "image reference with spaces",
    { trustDomain: td, serverImage: "spire server:1" },
    "serverImage",
    '"spire server:1"',
    /image reference/,
  ],
  [
    "a toleration with operator Equal and no key",
    { trustDomain: td, agentTolerations: [{ operator: "Equal", value: "gpu" }] },
    "agentTolerations[0].key",
    "(missing)",
    /required when operator is Equal/,
  ],
  [
    "a toleration with a value under Exists",
    { trustDomain: td, agentTolerations: [{ operator: "Exists", value: "x" }] },
    "agentTolerations[0].value",
    '"x"',
    /empty when operator is Exists/,
  ],
  [
    "tolerationSeconds without NoExecute",
    {
      trustDomain: td,
      agentTolerations: [{ key: "k", operator: "Exists", effect: "NoSchedule", tolerationSeconds: 30 }],
    },
    "agentTolerations[0].tolerationSeconds",
    "30",
    /only with effect NoExecute/,
  ],
  [
    "existing with a relative agent socket",
    { trustDomain: td, existing: { ...existing, agentSocketPath: "agent.sock" } },
    "existing.agentSocketPath",
    '"agent.sock"',
    /absolute path/,
  ],
  [
    "existing on Kubernetes 1.28 (no native sidecars)",
    { trustDomain: td, existing: { ...existing, kubernetesVersion: "v1.28.15-eks-1234" } },
    "existing.kubernetesVersion",
    '"v1.28.15-eks-1234"',
    /1\.29 or later .*native sidecar, an init container with restartPolicy Always/,
  ],
  [
    "existing without the cluster's version",
    { trustDomain: td, existing: { namespace: "spire", serverPod: "spire-server-0" } as never },
    "existing.kubernetesVersion",
    "(missing)",
    /must be the cluster's Kubernetes version, 1\.29 or later/,
  ],
  [
    "existing with a version that is not one",
    { trustDomain: td, existing: { ...existing, kubernetesVersion: "latest" } },
    "existing.kubernetesVersion",
    '"latest"',
    /must be the cluster's Kubernetes version/,
  ],
];

describe("SpireInstallation argument checks", () => {
  for (const [name, args, field, value, rule] of badArgs) {
    it(`rejects ${name}`, async () => {
      const { value: error, resources } = await construct(() => new SpireInstallation("spire", args));
      assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
      const problem = error.problems.find((p) => p.field === field);
      assert.ok(problem, `no problem reported for ${field}: ${error.message}`);
      assert.match(
        error.message,
        new RegExp(
          `${field.replace(/[[\]().*+?^$|\\]/g, "\\$&")} = ${value.replace(/[[\]().*+?^$|\\]/g, "\\$&")}: `,
        ),
      );
      assert.match(problem.rule, rule);
      assert.deepEqual(resources, [], "nothing may be registered");
    });
  }

  it("reports every problem of one call together", async () => {
    const { value: error } = await construct(
      () => new SpireInstallation("spire", { trustDomain: "Bad", x509SvidTtl: "soon", serverPort: -1 }),
    );
    assert.ok(error instanceof ValidationError);
    assert.deepEqual(error.problems.map((p) => p.field).sort(), ["serverPort", "trustDomain", "x509SvidTtl"]);
  });
});
