/** docs/components.md is what scripts/componentDocs.ts makes of the components' TSDoc, and the library's exports. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  type ComponentDocsResult,
  componentDocs,
  DOCS_FILE,
  REGENERATE_COMMAND,
} from "../../scripts/componentDocs";

/** A component in the library's shape: a class whose constructor passes a type token to super, and its Args. */
const FIXTURE = `
class Resource { constructor(_type: string, _name: string) {} }
export interface WidgetArgs {
  /** Documented. */
  readonly size: number;
  readonly colour?: string;
}
export class Widget extends Resource {
  constructor(name: string, args: WidgetArgs) { super("fixture:index:Widget", name); void args; }
}
export function widgetInternals(): number { return 1; }
`;

/** Optional fields: one states its default, one does not; one states a conflict the other does not state back. */
const DEFAULTS_FIXTURE = `
class Resource { constructor(_type: string, _name: string) {} }
export interface GadgetArgs {
  /** Port. Default: 8080. Conflicts with \`socket\`. */
  readonly port?: number;
  /** A Unix socket instead; the default is TCP. */
  readonly socket?: string;
  /** Name. Default: none, the component's. Conflicts with \`label\`. */
  readonly name?: string;
}
export class Gadget extends Resource {
  constructor(name: string, args: GadgetArgs) { super("fixture:index:Gadget", name); void args; }
}
`;

/** What the generator makes of `source` as a library entry of its own. */
function fixtureDocs(source: string): ComponentDocsResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "component-docs-"));
  try {
    const entry = path.join(dir, "index.ts");
    fs.writeFileSync(entry, source);
    return componentDocs(entry);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("docs/components.md", () => {
  let library: ComponentDocsResult;
  before(function () {
    // Type-checking the whole library is CPU-bound: under a loaded machine it took 26 s of the default 60.
    this.timeout(180_000);
    library = componentDocs();
  });

  it("is what the components' types and TSDoc generate", () => {
    assert.ok(library.components.length >= 7, `only ${library.components.length} components found`);
    for (const c of library.components) assert.ok(c.fields.length > 0, `${c.name} has no Args fields`);
    const written = fs.readFileSync(DOCS_FILE, "utf8");
    assert.ok(written === library.markdown, `docs/components.md is stale: run \`${REGENERATE_COMMAND}\``);
  });

  it("documents every Args field of every component", () => {
    assert.deepEqual(library.undocumented, []);
  });

  it("states the default of every optional Args field, in a sentence that begins Default", () => {
    const optional = library.components.flatMap((c) => c.fields.filter((f) => !f.required));
    assert.ok(optional.length >= 100, `only ${optional.length} optional fields found`);
    assert.deepEqual(library.undefaulted, []);
  });

  it("states each conflict between two fields on both of them", () => {
    assert.deepEqual(library.oneSidedConflicts, []);
  });

  it("comes from an index that exports only components, their Args and the types those name", () => {
    assert.deepEqual(library.unexpectedExports, []);
  });

  it("reports a field without TSDoc and an export that is no component or Args type", () => {
    const fixture = fixtureDocs(FIXTURE);
    assert.deepEqual(
      fixture.components.map((c) => [c.name, c.typeToken]),
      [["Widget", "fixture:index:Widget"]],
    );
    assert.deepEqual(fixture.undocumented, ["Widget.colour"]);
    assert.deepEqual(fixture.unexpectedExports, ["widgetInternals"]);
    assert.match(fixture.markdown, /\| `size` \| `number` \| yes \| Documented\. \|/);
  });

  it("reports an optional field without a Default sentence and a conflict stated on one side only", () => {
    const fixture = fixtureDocs(DEFAULTS_FIXTURE);
    // "the default is TCP" mentions a default but states none as the convention asks.
    assert.deepEqual(fixture.undefaulted, ["Gadget.socket"]);
    assert.deepEqual(fixture.oneSidedConflicts, ["Gadget.port -> socket", "Gadget.name -> label"]);
  });
});
