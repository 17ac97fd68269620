/**
 * A small HCL writer for SPIRE's config files. Config is modelled as ordered bodies of attributes and labelled
 * blocks, which is all SPIRE's server.conf and agent.conf use. Tests parse the output back with a real HCL parser.
 */

export type HclValue = string | number | boolean | readonly HclValue[] | { readonly [key: string]: HclValue };

export interface HclBlock {
  readonly block: string;
  readonly labels: readonly string[];
  readonly body: HclBody;
}

export type HclBody = ReadonlyArray<HclBlock | readonly [string, HclValue]>;

export const block = (name: string, labels: readonly string[], body: HclBody): HclBlock => ({
  block: name,
  labels,
  body,
});

/** A SPIRE plugin declaration: `Type "name" { plugin_data { ... } }`. */
export const plugin = (type: string, name: string, data: HclBody = []): HclBlock =>
  block(type, [name], [block("plugin_data", [], data)]);

const isBlock = (item: HclBlock | readonly [string, HclValue]): item is HclBlock => "block" in item;

function value(v: HclValue, indent: string): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => value(x, indent)).join(", ")}]`;
  const inner = `${indent}  `;
  const entries = Object.entries(v as Record<string, HclValue>).map(
    ([k, x]) => `${inner}${JSON.stringify(k)} = ${value(x, inner)}`,
  );
  return entries.length === 0 ? "{}" : `{\n${entries.join("\n")}\n${indent}}`;
}

export function renderHcl(body: HclBody, indent = ""): string {
  return body
    .map((item) => {
      if (!isBlock(item)) return `${indent}${item[0]} = ${value(item[1], indent)}`;
      const head = [item.block, ...item.labels.map((l) => JSON.stringify(l))].join(" ");
      if (item.body.length === 0) return `${indent}${head} {}`;
      return `${indent}${head} {\n${renderHcl(item.body, `${indent}  `)}\n${indent}}`;
    })
    .join("\n");
}
