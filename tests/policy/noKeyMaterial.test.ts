/**
 * no-key-material: PEM private keys in ConfigMaps, Secrets (base64 data and stringData) and stack outputs. The
 * keys below are made-up PEM blocks, not keys.
 */
import assert from "node:assert/strict";
import { NO_KEY_MATERIAL } from "../../policy/policies";
import { noKeyMaterialPolicy, privateKeyHeader } from "../../policy/rules/noKeyMaterial";
import { runResourcePolicy, runStackPolicy, testResource, UNKNOWN } from "../../policy/testing";

const DESCRIPTION = noKeyMaterialPolicy.description;
const WHY = "private keys must not be written by the stack; let SPIRE issue them and deliver them over SDS";
const pem = (label: string) => `-----BEGIN ${label}-----\nbm90IGEga2V5\n-----END ${label}-----\n`;
const CERT = pem("CERTIFICATE");
const b64 = (text: string) => Buffer.from(text).toString("base64");

const secret = (props: object) =>
  testResource("kubernetes:core/v1:Secret", "tls", {
    metadata: { name: "api-tls", namespace: "shop" },
    ...props,
  });

describe(`policy ${NO_KEY_MATERIAL}`, () => {
  it("recognises private key headers, not certificates", () => {
    assert.equal(privateKeyHeader(pem("PRIVATE KEY")), "PRIVATE KEY");
    assert.equal(privateKeyHeader(pem("EC PRIVATE KEY")), "EC PRIVATE KEY");
    assert.equal(privateKeyHeader(pem("ENCRYPTED PRIVATE KEY")), "ENCRYPTED PRIVATE KEY");
    assert.equal(privateKeyHeader(pem("OPENSSH PRIVATE KEY")), "OPENSSH PRIVATE KEY");
    assert.equal(privateKeyHeader(CERT), undefined);
  });

  it("passes a trust bundle ConfigMap and a Secret without keys", async () => {
    const bundle = testResource("kubernetes:core/v1:ConfigMap", "spire-bundle", {
      metadata: { name: "spire-bundle", namespace: "spire" },
      data: { "bundle.crt": CERT },
    });
    assert.deepEqual(await runResourcePolicy(noKeyMaterialPolicy, bundle), []);
    assert.deepEqual(
      await runResourcePolicy(noKeyMaterialPolicy, secret({ data: { "ca.crt": b64(CERT) } })),
      [],
    );
  });

  it("fails keys in a ConfigMap, in Secret data (base64) and stringData, without echoing them", async () => {
    const cm = testResource("kubernetes:core/v1:ConfigMap", "envoy", {
      metadata: { name: "envoy", namespace: "shop" },
      data: { "key.pem": pem("RSA PRIVATE KEY") },
      binaryData: { "key.der.pem": b64(pem("EC PRIVATE KEY")) },
    });
    const both = secret({
      data: { "tls.key": b64(pem("PRIVATE KEY")) },
      stringData: { "tls2.key": pem("PRIVATE KEY") },
    });
    const messages = [
      ...(await runResourcePolicy(noKeyMaterialPolicy, cm)),
      ...(await runResourcePolicy(noKeyMaterialPolicy, both)),
    ].map((v) => `[${v.level}] ${v.message}`);
    assert.deepEqual(messages, [
      `[mandatory] ${DESCRIPTION}\nConfigMap shop/envoy: data.key.pem holds a PEM private key (BEGIN RSA PRIVATE KEY): ${WHY}`,
      `[mandatory] ${DESCRIPTION}\nConfigMap shop/envoy: binaryData.key.der.pem holds a PEM private key (BEGIN EC PRIVATE KEY): ${WHY}`,
      `[mandatory] ${DESCRIPTION}\nSecret shop/api-tls: data.tls.key holds a PEM private key (BEGIN PRIVATE KEY): ${WHY}`,
      `[mandatory] ${DESCRIPTION}\nSecret shop/api-tls: stringData.tls2.key holds a PEM private key (BEGIN PRIVATE KEY): ${WHY}`,
    ]);
    assert.ok(messages.every((m) => !m.includes("bm90IGEga2V5")));
  });

  it("fails a key in a stack output, nested or not, and passes outputs without one", async () => {
    const stack = (outputs: object) => testResource("pulumi:pulumi:Stack", "spire-mesh-dev", outputs);
    const clean = stack({ trustDomain: "example.org", identities: { front: "spiffe://example.org/front" } });
    assert.deepEqual(await runStackPolicy(noKeyMaterialPolicy, [clean]), []);
    const leaky = stack({ debug: { tls: [CERT, pem("PRIVATE KEY")] }, late: UNKNOWN });
    assert.deepEqual(await runStackPolicy(noKeyMaterialPolicy, [leaky]), [
      {
        policy: NO_KEY_MATERIAL,
        level: "mandatory",
        message: `${DESCRIPTION}\nstack outputs: debug.tls[1] holds a PEM private key (BEGIN PRIVATE KEY): ${WHY}`,
        urn: leaky.urn,
      },
    ]);
  });

  it("skips Secret values unknown during preview", async () => {
    assert.deepEqual(
      await runResourcePolicy(noKeyMaterialPolicy, secret({ data: { "tls.key": UNKNOWN } })),
      [],
    );
  });
});
