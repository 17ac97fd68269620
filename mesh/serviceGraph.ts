/**
 * Who may call whom, derived from the mesh's wiring rather than kept by hand: a node's clients are the nodes
 * whose backends route to it, and a node's servers are the nodes its backends route to.
 */
export interface GraphNode {
  readonly name: string;
  readonly identity?: string;
  /** Virtual services this node calls. */
  readonly backends: readonly string[];
}

export interface MeshGraph {
  readonly nodes: readonly GraphNode[];
  /** Virtual service name -> names of the nodes its router can send to. */
  readonly routes: Readonly<Record<string, readonly string[]>>;
}

const identities = (graph: MeshGraph, names: Iterable<string>): string[] => {
  const wanted = new Set(names);
  return graph.nodes.filter((n) => wanted.has(n.name) && n.identity).map((n) => n.identity as string);
};

/** Identities of the nodes behind `node`'s backends: its client SAN list. */
export function serverIdentities(graph: MeshGraph, node: string): string[] {
  const self = graph.nodes.find((n) => n.name === node);
  return identities(
    graph,
    (self?.backends ?? []).flatMap((vs) => graph.routes[vs] ?? []),
  );
}

/** Identities of the nodes that can reach `node` through a backend: its listener SAN list. */
export function callerIdentities(graph: MeshGraph, node: string): string[] {
  const callers = graph.nodes.filter((n) => n.backends.some((vs) => (graph.routes[vs] ?? []).includes(node)));
  return identities(
    graph,
    callers.map((n) => n.name),
  );
}
