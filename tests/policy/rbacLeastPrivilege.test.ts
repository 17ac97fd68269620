/**
 * rbac-least-privilege: wildcards in verbs, resources (and subresources) and API groups; grants that reach into
 * pods (nodes/proxy, pods/exec, ...); exemptions by name.
 */
import assert from "node:assert/strict";
import { RBAC_LEAST_PRIVILEGE } from "../../policy/policies";
import { rbacLeastPrivilegePolicy } from "../../policy/rules/rbacLeastPrivilege";
import { runResourcePolicy, testResource, UNKNOWN } from "../../policy/testing";

const DESCRIPTION = rbacLeastPrivilegePolicy.description;
const clusterRole = (name: string, rules: object[]) =>
  testResource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", `${name}-cluster-role`, {
    metadata: { name },
    rules,
  });

describe(`policy ${RBAC_LEAST_PRIVILEGE}`, () => {
  it("passes the SPIRE roles as the library writes them", async () => {
    const agent = clusterRole("spire-agent", [
      { apiGroups: [""], resources: ["nodes/pods"], verbs: ["get"] },
    ]);
    const bundle = testResource("kubernetes:rbac.authorization.k8s.io/v1:Role", "spire-server-bundle-role", {
      metadata: { name: "spire-server-bundle", namespace: "spire" },
      rules: [
        {
          apiGroups: [""],
          resources: ["configmaps"],
          resourceNames: ["spire-bundle"],
          verbs: ["get", "patch"],
        },
      ],
    });
    assert.deepEqual(await runResourcePolicy(rbacLeastPrivilegePolicy, agent), []);
    assert.deepEqual(await runResourcePolicy(rbacLeastPrivilegePolicy, bundle), []);
  });

  it("fails each wildcard field, subresource wildcards included", async () => {
    const admin = clusterRole("too-much", [
      { apiGroups: ["*"], resources: ["pods"], verbs: ["get", "*"] },
      { apiGroups: ["apps"], resources: ["deployments/*"], verbs: ["get"] },
    ]);
    const violations = await runResourcePolicy(rbacLeastPrivilegePolicy, admin);
    assert.deepEqual(
      violations.map((v) => `[${v.level}] ${v.message}`),
      [
        `[mandatory] ${DESCRIPTION}\nClusterRole too-much: rules[0].verbs = ["get","*"]: wildcard "*" grants more than the stack needs; list each verb explicitly`,
        `[mandatory] ${DESCRIPTION}\nClusterRole too-much: rules[0].apiGroups = ["*"]: wildcard "*" grants more than the stack needs; list each API group explicitly`,
        `[mandatory] ${DESCRIPTION}\nClusterRole too-much: rules[1].resources = ["deployments/*"]: wildcard "deployments/*" grants more than the stack needs; list each resource explicitly`,
      ],
    );
  });

  it("fails a grant that reaches into pods: nodes/proxy (the kubelet's exec), pods/exec, pods/portforward", async () => {
    const legacyAgent = clusterRole("spire-agent", [
      { apiGroups: [""], resources: ["nodes/pods", "nodes/proxy"], verbs: ["get"] },
      { apiGroups: ["*"], resources: ["pods/exec", "pods/portforward", "pods/log"], verbs: ["create"] },
    ]);
    const violations = await runResourcePolicy(rbacLeastPrivilegePolicy, legacyAgent);
    const messages = violations.map((v) => v.message.split("\n")[1]);
    assert.equal(messages.length, 4, messages.join("\n"));
    assert.match(
      messages[0],
      /^ClusterRole spire-agent: rules\[0\]\.resources grants "nodes\/proxy": the kubelet authorizes exec, attach and port-forward .* grant nodes\/pods/,
    );
    assert.match(messages[1], /rules\[1\]\.resources grants "pods\/exec": it runs commands in the pods/);
    assert.match(messages[2], /rules\[1\]\.resources grants "pods\/portforward"/);
    assert.match(messages[3], /rules\[1\]\.apiGroups = \["\*"\]: wildcard/);
    // The legacy switch's role passes only where the operator exempts it by name.
    assert.deepEqual(
      await runResourcePolicy(rbacLeastPrivilegePolicy, legacyAgent, {
        exemptRoles: ["ClusterRole/spire-agent"],
      }),
      [],
    );
  });

  it("exempts roles named in exemptRoles and skips unknown values", async () => {
    const admin = clusterRole("break-glass", [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }]);
    assert.deepEqual(
      await runResourcePolicy(rbacLeastPrivilegePolicy, admin, { exemptRoles: ["ClusterRole/break-glass"] }),
      [],
    );
    const late = clusterRole("late", [{ apiGroups: [""], resources: [UNKNOWN], verbs: UNKNOWN }]);
    assert.deepEqual(await runResourcePolicy(rbacLeastPrivilegePolicy, late), []);
  });
});
