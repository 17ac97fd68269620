/**
 * The spire-mesh library. Importing it creates nothing; construct the components in your stack.
 *
 * Exported by name: the components, their Args, the types and enums those Args and outputs name, and
 * `peerIdentity`, which fills `federation.federatesWith`. Nothing else is public (docs/components.md lists them;
 * tests/docs/components.test.ts fails on an export that is none of these).
 */

export { ColorApp, type ColorAppArgs } from "./colorApp";
export {
  type Backend,
  type Caller,
  type Container,
  type LocalCaller,
  MeshWorkload,
  type MeshWorkloadArgs,
  type PodGroup,
  type RemoteBackend,
  type RoutedBackend,
} from "./meshWorkload";
export {
  type GatewayListenerArgs,
  type GatewayRouteArgs,
  MtlsVirtualGateway,
  type MtlsVirtualGatewayArgs,
  ServiceType,
} from "./mtlsVirtualGateway";
export {
  type AuthorizationArgs,
  AuthorizationMode,
  type AuthorizationRuleArgs,
  DataPlane,
  type EgressRouteArgs,
  type EgressServiceArgs,
  type HeaderMatch,
  type HealthCheckArgs,
  ListenerProtocol,
  type MeshNodeArgs,
  MtlsVirtualNode,
  type MtlsVirtualNodeArgs,
  type PathMatch,
  TlsMode,
  type VirtualNodeArgs,
} from "./mtlsVirtualNode";
export { SpireEntry, type SpireEntryArgs } from "./spireEntry";
export { type EntrySetMember, SpireEntrySet, type SpireEntrySetArgs } from "./spireEntrySet";
export {
  type BundleEndpointArgs,
  type DatastoreArgs,
  type ExistingSpireArgs,
  type FederatedDomainArgs,
  type FederationArgs,
  type FederationCommandArgs,
  peerIdentity,
  type ResourceSettings,
  SpireInstallation,
  type SpireInstallationArgs,
  type TelemetryArgs,
  type UpstreamAuthorityArgs,
} from "./spireInstallation";
