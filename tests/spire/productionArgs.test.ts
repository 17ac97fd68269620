/**
 * Bad production arguments (datastore, replicas, upstream authority, telemetry) fail at construction, before any
 * resource is registered, naming the field, the value and the rule. A connection string is never shown.
 */
import assert from "node:assert/strict";
import { SpireInstallation, type SpireInstallationArgs } from "../../components";
import { ValidationError } from "../../core/validation";
import { construct } from "../support/mocks";

const td = "howto-k8s-mtls-sds-based.aws";
const pg = { type: "postgres", connectionString: "dbname=spire host=db user=spire password=pw" } as const;
const arn =
  "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555";

// [case, args, field, value as printed, a phrase of the rule]
const badArgs: [string, SpireInstallationArgs, string, string, RegExp][] = [
  ["replicas with sqlite", { trustDomain: td, replicas: 2 }, "replicas", "2", /requires datastore postgres/],
  ["zero replicas", { trustDomain: td, datastore: pg, replicas: 0 }, "replicas", "0", /integer from 1 to 9/],
  ["fractional replicas", { trustDomain: td, datastore: pg, replicas: 1.5 }, "replicas", "1.5", /integer/],
  [
    "an empty connection string",
    { trustDomain: td, datastore: { type: "postgres", connectionString: "" } },
    "datastore.connectionString",
    '""',
    /must not be empty/,
  ],
  [
    "a connection string without a value",
    { trustDomain: td, datastore: { type: "postgres" } as never },
    "datastore.connectionString",
    "(missing)",
    /required with datastore postgres/,
  ],
  [
    "a connection string with a double quote (it is substituted into server.conf)",
    { trustDomain: td, datastore: { type: "postgres", connectionString: 'password="x"' } },
    "datastore.connectionString",
    '"[secret]"',
    /must not contain/,
  ],
  [
    "an unknown datastore",
    { trustDomain: td, datastore: { type: "mysql" } as never },
    "datastore.type",
    '"mysql"',
    /sqlite or postgres/,
  ],
  [
    "protectData with postgres (nothing of the servers' to protect)",
    { trustDomain: td, datastore: pg, protectData: true },
    "protectData",
    "true",
    /conflicts with datastore postgres/,
  ],
  [
    "disk without a secret name",
    { trustDomain: td, upstreamAuthority: { type: "disk" } as never },
    "upstreamAuthority.secretName",
    "(missing)",
    /tls\.crt and tls\.key/,
  ],
  [
    "disk with a secret name that is no object name",
    { trustDomain: td, upstreamAuthority: { type: "disk", secretName: "Upstream_CA" } },
    "upstreamAuthority.secretName",
    '"Upstream_CA"',
    /name the Secret/,
  ],
  [
    "awsPca without an ARN",
    { trustDomain: td, upstreamAuthority: { type: "awsPca", region: "us-west-2" } as never },
    "upstreamAuthority.certificateAuthorityArn",
    "(missing)",
    /ACM PCA ARN/,
  ],
  [
    "awsPca with an ACM (not PCA) certificate ARN",
    {
      trustDomain: td,
      upstreamAuthority: {
        type: "awsPca",
        certificateAuthorityArn: "arn:aws:acm:us-west-2:123456789012:certificate/abc",
        region: "us-west-2",
      },
    },
    "upstreamAuthority.certificateAuthorityArn",
    '"arn:aws:acm:us-west-2:123456789012:certificate/abc"',
    /ACM PCA ARN/,
  ],
  [
    "awsPca in a region other than the CA's",
    {
      trustDomain: td,
      upstreamAuthority: { type: "awsPca", certificateAuthorityArn: arn, region: "eu-west-1" },
    },
    "upstreamAuthority.region",
    '"eu-west-1"',
    /the CA's region us-west-2/,
  ],
  [
    "awsPca without a region",
    { trustDomain: td, upstreamAuthority: { type: "awsPca", certificateAuthorityArn: arn } as never },
    "upstreamAuthority.region",
    "(missing)",
    /AWS region/,
  ],
  [
    "an unknown upstream authority",
    { trustDomain: td, upstreamAuthority: { type: "vault" } as never },
    "upstreamAuthority.type",
    '"vault"',
    /none, disk or awsPca/,
  ],
  [
    "a server telemetry port that clashes with the gRPC port",
    { trustDomain: td, telemetry: { serverPort: 8081 } },
    "telemetry.serverPort",
    "8081",
    /must differ from serverPort 8081/,
  ],
  [
    "a server telemetry port that clashes with the health port",
    { trustDomain: td, telemetry: { serverPort: 8080 } },
    "telemetry.serverPort",
    "8080",
    /must differ from the health port 8080/,
  ],
  [
    "an agent telemetry port that clashes with the agent health port",
    { trustDomain: td, telemetry: { agentPort: 9982 } },
    "telemetry.agentPort",
    "9982",
    /must differ from agentHealthPort 9982/,
  ],
  [
    "telemetry port 0",
    { trustDomain: td, telemetry: { agentPort: 0 } },
    "telemetry.agentPort",
    "0",
    /1-65535/,
  ],
  [
    "a spread across regions",
    { trustDomain: td, datastore: pg, replicas: 2, spreadAcross: "regions" as never },
    "spreadAcross",
    '"regions"',
    /nodes or zones/,
  ],
  [
    "existing SPIRE with a datastore",
    {
      trustDomain: td,
      existing: { namespace: "spire", serverPod: "spire-server-0", kubernetesVersion: "1.33" },
      datastore: pg,
    },
    "existing",
    '["namespace","serverPod","kubernetesVersion"]',
    /conflicts with install-only arguments datastore/,
  ],
];

describe("SpireInstallation production argument checks", () => {
  for (const [name, args, field, value, rule] of badArgs) {
    it(`rejects ${name}`, async () => {
      const { value: error, resources } = await construct(() => new SpireInstallation("spire", args));
      assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
      const problem = error.problems.find((p) => p.field === field);
      assert.ok(problem, `no problem reported for ${field}: ${error.message}`);
      assert.match(
        error.message,
        new RegExp(`${field.replace(/\./g, "\\.")} = ${value.replace(/[[\]().*+?^$|\\]/g, "\\$&")}: `),
      );
      assert.match(problem.rule, rule);
      assert.deepEqual(resources, [], "nothing may be registered");
      assert.doesNotMatch(error.message, /password/, "a connection string is never shown");
    });
  }
});
