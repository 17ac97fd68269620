/** Listener TLS modes of App Mesh, which the envoy data plane follows too. Its own file: callers.ts checks them. */
export enum TlsMode {
  Strict = "STRICT",
  Permissive = "PERMISSIVE",
  Disabled = "DISABLED",
}
