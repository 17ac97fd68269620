/**
 * The spire-mesh policy pack. `pulumi preview --policy-pack <this directory>` runs it; constructing the
 * PolicyPack starts the analyzer's gRPC server and prints its port, so nothing else here may write to stdout.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, {
  policies,
  description:
    "spire-mesh: mTLS coverage and the platform rules around it (registered identities, host access, pinned " +
    "images, SVID lifetimes, key material, RBAC) for stacks that use SPIRE and Envoy SDS on Kubernetes.",
});
