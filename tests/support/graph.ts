/**
 * The resource graph of a render: explicit dependsOn edges (the SDK expands a component dependency into its
 * children) plus parent links, which is what the engine orders creation and deletion by.
 */
import type { RecordedResource } from "../../render/runtime";

export class ResourceGraph {
  private readonly byUrn: Map<string, RecordedResource>;

  constructor(readonly resources: readonly RecordedResource[]) {
    this.byUrn = new Map(resources.map((r) => [r.urn, r]));
  }

  find(type: string, name: string): RecordedResource {
    const found = this.resources.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) throw new Error(`expected one ${type} ${name}, found ${found.length}`);
    return found[0];
  }

  /** Direct prerequisites: explicit dependencies and the parent. */
  prerequisites(r: RecordedResource): RecordedResource[] {
    const urns = [...r.dependsOn, ...(r.parent ? [r.parent] : [])];
    return urns.map((u) => this.byUrn.get(u)).filter((x): x is RecordedResource => x !== undefined);
  }

  /** True when `r` cannot be created before `prerequisite` is: a path of prerequisite edges links them. */
  waitsFor(r: RecordedResource, prerequisite: RecordedResource): boolean {
    const seen = new Set<string>();
    const stack = [r];
    while (stack.length > 0) {
      const next = stack.pop() as RecordedResource;
      for (const p of this.prerequisites(next)) {
        if (p.urn === prerequisite.urn) return true;
        if (!seen.has(p.urn)) {
          seen.add(p.urn);
          stack.push(p);
        }
      }
    }
    return false;
  }

  /** An order `pulumi destroy` may delete in: nothing goes before everything that waits for it. */
  deleteOrder(): RecordedResource[] {
    const dependents = new Map<string, RecordedResource[]>(this.resources.map((r) => [r.urn, []]));
    for (const r of this.resources) for (const p of this.prerequisites(r)) dependents.get(p.urn)?.push(r);
    const order: RecordedResource[] = [];
    const done = new Set<string>();
    const visit = (r: RecordedResource) => {
      if (done.has(r.urn)) return;
      done.add(r.urn);
      for (const d of dependents.get(r.urn) ?? []) visit(d);
      order.push(r);
    };
    for (const r of this.resources) visit(r);
    return order;
  }
}
