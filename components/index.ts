/** The spire-mesh library. Importing it creates nothing; construct the components in your stack. */

export * from "./colorApp";
export * from "./meshWorkload";
export * from "./mtlsVirtualGateway";
export * from "./mtlsVirtualNode";
export * from "./spireEntry";
export * from "./spireEntrySet";
export * from "./spireInstallation";
