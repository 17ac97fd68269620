/** The node the authorization tests render: blue, STRICT on the envoy data plane, admitting front and red. */
import type { AuthorizationArgs } from "../../mesh/authorization";
import { DataPlane } from "../../mesh/envoySidecar";
import type { MeshNodeArgs } from "../../mesh/meshNode";
import { TlsMode } from "../../mesh/virtualNode";

export const TD = "howto-k8s-mtls-sds-based.aws";
export const FRONT = `spiffe://${TD}/front`;
export const RED = `spiffe://${TD}/colorred`;

/** Blue's node arguments with these rules (none: no `authorization` field), `extra` overriding any field. */
export const blueNode = (
  authorization: AuthorizationArgs | undefined,
  extra: Partial<MeshNodeArgs> = {},
): MeshNodeArgs => ({
  name: "blue",
  namespace: "mesh",
  podSelector: { app: "blue" },
  trustDomain: TD,
  identity: `spiffe://${TD}/colorblue`,
  tlsMode: TlsMode.Strict,
  allowedCallers: [FRONT, RED],
  dataPlane: DataPlane.Envoy,
  ...(authorization ? { authorization } : {}),
  ...extra,
});
