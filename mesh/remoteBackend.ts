/**
 * A backend this stack does not deploy, such as a workload of a federated trust domain in another cluster, as the
 * egress of a virtual node: one route to a node that stands for it. Pure: no Pulumi.
 */
import type { EgressServiceArgs } from "./meshNode";
import { ListenerProtocol } from "./virtualNode";

/**
 * A service this stack does not deploy, named by its SPIFFE ID: typically a workload of a federated trust
 * domain in another cluster (its ID from that stack's outputs, through a StackReference).
 */
export interface RemoteBackend {
  /** Its SPIFFE ID: the exact SAN its certificate must carry. In a federated domain, or this one. */
  readonly identity: string;
  /** Host name the app dials and the sidecar connects to (the other cluster's address for it). */
  readonly hostname: string;
  /** Default 8080. */
  readonly port?: number;
  /** Its listener protocol. Default http. */
  readonly protocol?: ListenerProtocol;
  /** Name of its virtual service and Envoy cluster. Default: the host name's first label. */
  readonly virtualService?: string;
}

/** A remote backend as an egress: one route to a node that stands for it (its ID, host, port, protocol). */
export function remoteEgress(b: RemoteBackend, namespace: string, trustDomain: string): EgressServiceArgs {
  const name = b.virtualService ?? b.hostname.split(".")[0];
  return {
    virtualService: name,
    hostname: b.hostname,
    port: b.port,
    routes: [
      {
        name: `${name}-route`,
        target: {
          name,
          namespace,
          podSelector: { app: name },
          trustDomain,
          identity: b.identity,
          port: b.port,
          protocol: b.protocol ?? ListenerProtocol.Http,
          hostname: b.hostname,
        },
      },
    ],
  };
}
