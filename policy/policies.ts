/**
 * The spire-mesh rules, in the order of the table in docs/policies.md. Kept apart from index.ts, which constructs the
 * PolicyPack (and so starts its gRPC server): tests and other packs import this module instead.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { authorizationRulesPolicy } from "./rules/authorizationRules";
import { awsTaggedPolicy } from "./rules/awsTagged";
import { eksStandardSupportPolicy } from "./rules/eksStandardSupport";
import { hostAccessPolicy } from "./rules/hostAccess";
import { identitiesRegisteredPolicy } from "./rules/identitiesRegistered";
import { imdsHopLimitPolicy } from "./rules/imdsHopLimit";
import { mtlsStrictPolicy } from "./rules/mtlsStrict";
import { noKeyMaterialPolicy } from "./rules/noKeyMaterial";
import { pinnedImagesPolicy } from "./rules/pinnedImages";
import { rbacLeastPrivilegePolicy } from "./rules/rbacLeastPrivilege";
import { svidLifetimesPolicy } from "./rules/svidLifetimes";

export { AUTHORIZATION_RULES, AUTHORIZATION_RULES_DEFAULTS } from "./rules/authorizationRules";
export { AWS_TAGGED, AWS_TAGGED_DEFAULTS } from "./rules/awsTagged";
export { EKS_STANDARD_SUPPORT, EKS_STANDARD_SUPPORT_DEFAULTS } from "./rules/eksStandardSupport";
export { HOST_ACCESS, HOST_ACCESS_DEFAULTS } from "./rules/hostAccess";
export { IDENTITIES_REGISTERED, IDENTITIES_REGISTERED_DEFAULTS } from "./rules/identitiesRegistered";
export { IMDS_HOP_LIMIT, IMDS_HOP_LIMIT_DEFAULTS } from "./rules/imdsHopLimit";
export { MTLS_STRICT, MTLS_STRICT_DEFAULTS } from "./rules/mtlsStrict";
export { NO_KEY_MATERIAL } from "./rules/noKeyMaterial";
export { PINNED_IMAGES, PINNED_IMAGES_DEFAULTS } from "./rules/pinnedImages";
export { RBAC_DEFAULTS, RBAC_LEAST_PRIVILEGE } from "./rules/rbacLeastPrivilege";
export { SVID_LIFETIMES, SVID_LIFETIMES_DEFAULTS } from "./rules/svidLifetimes";

/** The pack's name, as `pulumi preview` prints it (`spire-mesh@v<version>`). */
export const PACK_NAME = "spire-mesh";

export type SpireMeshPolicy = ResourceValidationPolicy | StackValidationPolicy;

export const isResourcePolicy = (p: SpireMeshPolicy): p is ResourceValidationPolicy =>
  typeof (p as ResourceValidationPolicy).validateResource === "function";

export const isStackPolicy = (p: SpireMeshPolicy): p is StackValidationPolicy =>
  typeof (p as StackValidationPolicy).validateStack === "function";

export const policies: SpireMeshPolicy[] = [
  mtlsStrictPolicy,
  identitiesRegisteredPolicy,
  hostAccessPolicy,
  pinnedImagesPolicy,
  svidLifetimesPolicy,
  noKeyMaterialPolicy,
  rbacLeastPrivilegePolicy,
  // The AWS account the stack runs in (issue 27): advisory by default.
  imdsHopLimitPolicy,
  eksStandardSupportPolicy,
  awsTaggedPolicy,
  // Who may do what (issue 26): advisory by default, mandatory where the pack config says so.
  authorizationRulesPolicy,
];
