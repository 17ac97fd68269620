/**
 * Generates docs/components.md from the library's own types: per component its type token and a table of its
 * Args fields (name, type, required, TSDoc), read with the TypeScript compiler so the reference cannot drift
 * from the code. `npx ts-node scripts/componentDocs.ts` rewrites the file; tests/docs/components.test.ts fails
 * when it is stale, when a field has no TSDoc, when an optional field states no default (statesDefault), when a
 * conflict is stated on one side only (conflictsNamed), or when components/index.ts exports anything that is not
 * a component, its Args or a type they name.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

export const REGENERATE_COMMAND = "npx ts-node scripts/componentDocs.ts";
export const LIBRARY_ENTRY = path.join(__dirname, "..", "components", "index.ts");
export const DOCS_FILE = path.join(__dirname, "..", "docs", "components.md");

/** Exports that are neither a component nor a type its Args name, kept because a user needs them to fill an Arg. */
const ARG_HELPERS: Record<string, string> = {
  peerIdentity: "builds a `federatesWith` peer's SPIFFE ID for `SpireInstallationArgs.federation`",
};

export interface ArgsField {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
  readonly doc: string;
  /** The file that declares it, relative to the repository. */
  readonly declaredIn: string;
}

export interface ComponentDoc {
  readonly name: string;
  readonly typeToken: string;
  readonly summary: string;
  readonly argsType: string;
  readonly fields: readonly ArgsField[];
}

export interface ComponentDocsResult {
  readonly markdown: string;
  readonly components: readonly ComponentDoc[];
  /** `Component.field` for every Args field without TSDoc. */
  readonly undocumented: readonly string[];
  /** `Component.field` for every optional Args field whose TSDoc has no sentence that begins `Default`. */
  readonly undefaulted: readonly string[];
  /**
   * `Component.field -> other` for every "Conflicts with `other`" that names no field of the same Args, or whose
   * other field does not state the conflict back.
   */
  readonly oneSidedConflicts: readonly string[];
  /** Names the entry exports that are no component, Args, type named by them, or listed helper. */
  readonly unexpectedExports: readonly string[];
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim();

/**
 * The convention for optional fields: a sentence that begins `Default`, giving the value (`Default: 8080.`) or
 * what absence means (`Default: none, plaintext.`).
 */
export const statesDefault = (doc: string): boolean => /(^|[.!?]\s+)Default\b/.test(doc);

/** The fields a doc says its field conflicts with: the backticked names after "Conflicts with", up to the period. */
export const conflictsNamed = (doc: string): string[] =>
  [...oneLine(doc).matchAll(/Conflicts with ([^.]*)/gi)].flatMap((m) =>
    [...m[1].matchAll(/`([A-Za-z]\w*)/g)].map((n) => n[1]),
  );

/** Each stated conflict must name a field of the same Args that states it back. */
function oneSidedConflictsOf(component: string, fields: readonly ArgsField[]): string[] {
  const named = new Map(fields.map((f) => [f.name, conflictsNamed(f.doc)]));
  return fields.flatMap((f) =>
    (named.get(f.name) ?? [])
      .filter((other) => !named.get(other)?.includes(f.name))
      .map((other) => `${component}.${f.name} -> ${other}`),
  );
}
const cell = (text: string): string => oneLine(text).replace(/\|/g, "\\|");

/** The `type` argument of the class's `super(type, name, …)` call, e.g. "spire-mesh:index:SpireEntry". */
function typeTokenOf(declaration: ts.ClassDeclaration): string | undefined {
  let token: string | undefined;
  const visit = (node: ts.Node): void => {
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.SuperKeyword &&
      node.arguments.length > 0 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      token = node.arguments[0].text;
      return;
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(declaration, visit);
  return token?.includes(":index:") ? token : undefined;
}

function fieldsOf(checker: ts.TypeChecker, argsType: ts.Type, at: ts.Node): ArgsField[] {
  return checker.getPropertiesOfType(argsType).map((property) => {
    const declaration = property.valueDeclaration ?? property.declarations?.[0];
    const typeNode = declaration && ts.isPropertySignature(declaration) ? declaration.type : undefined;
    const type = typeNode
      ? typeNode.getText()
      : checker.typeToString(checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(property, at)));
    return {
      name: property.name,
      type: oneLine(type),
      required: (property.flags & ts.SymbolFlags.Optional) === 0,
      doc: ts.displayPartsToString(property.getDocumentationComment(checker)).trim(),
      declaredIn: path.relative(path.join(__dirname, ".."), declaration?.getSourceFile().fileName ?? ""),
    };
  });
}

function renderMarkdown(components: readonly ComponentDoc[], helpers: readonly string[]): string {
  const lines = [
    "# Components",
    "",
    `Generated from the TSDoc of \`components/\` by \`${REGENERATE_COMMAND}\`; do not edit by hand.`,
    "Every argument is a plain value unless its type says `pulumi.Input`: it is checked at construction.",
    "Every optional field states its default in a sentence that begins `Default` (`Default: none` says what its",
    'absence means), and a conflict between two fields is stated on both ("Conflicts with `field`").',
    "",
  ];
  for (const c of components) {
    lines.push(`## ${c.name}`, "", `Type token: \`${c.typeToken}\`. Args: \`${c.argsType}\`.`, "");
    if (c.summary) lines.push(oneLine(c.summary), "");
    lines.push("| field | type | required | description |", "|---|---|---|---|");
    for (const f of c.fields) {
      lines.push(`| \`${f.name}\` | \`${cell(f.type)}\` | ${f.required ? "yes" : "no"} | ${cell(f.doc)} |`);
    }
    lines.push("");
  }
  if (helpers.length > 0) {
    lines.push("## Helpers", "");
    for (const h of helpers) lines.push(`- \`${h}\`: ${ARG_HELPERS[h]}`);
    lines.push("");
  }
  return lines.join("\n");
}

/** Reads the components that `entry` exports and renders their reference. */
export function componentDocs(entry: string = LIBRARY_ENTRY): ComponentDocsResult {
  const program = ts.createProgram([entry], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${entry}: not a module`);
  const exported = checker.getExportsOfModule(moduleSymbol);

  const components: ComponentDoc[] = [];
  const undocumented: string[] = [];
  const undefaulted: string[] = [];
  const oneSidedConflicts: string[] = [];
  const referenced: string[] = [];
  for (const alias of exported) {
    const symbol = alias.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(alias) : alias;
    const declaration = symbol.declarations?.find(ts.isClassDeclaration);
    const typeToken = declaration && typeTokenOf(declaration);
    const construct = declaration?.members.find(ts.isConstructorDeclaration);
    const argsParameter = construct?.parameters[1];
    if (!declaration || !typeToken || !argsParameter?.type) continue;
    const argsType = checker.getTypeAtLocation(argsParameter.type);
    const fields = fieldsOf(checker, argsType, argsParameter);
    for (const f of fields) if (!f.doc) undocumented.push(`${alias.name}.${f.name}`);
    for (const f of fields) {
      if (f.doc && !f.required && !statesDefault(f.doc)) undefaulted.push(`${alias.name}.${f.name}`);
    }
    oneSidedConflicts.push(...oneSidedConflictsOf(alias.name, fields));
    const publicTypes = declaration.members
      .filter(ts.isPropertyDeclaration)
      .map((p) => p.type?.getText() ?? "");
    referenced.push(argsParameter.type.getText(), ...fields.map((f) => f.type), ...publicTypes);
    components.push({
      name: alias.name,
      typeToken,
      summary: ts.displayPartsToString(symbol.getDocumentationComment(checker)),
      argsType: argsParameter.type.getText(),
      fields,
    });
  }
  const componentNames = new Set(components.map((c) => c.name));
  const names = exported.map((s) => s.name);
  // A type the Args name may name further types (Caller names LocalCaller): follow them to a fixed point.
  const declarationText = new Map(
    exported.map((alias) => {
      const symbol = alias.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(alias) : alias;
      const types = (symbol.declarations ?? []).filter(
        (d) => ts.isInterfaceDeclaration(d) || ts.isTypeAliasDeclaration(d),
      );
      return [alias.name, types.map((d) => d.getText()).join(" ")];
    }),
  );
  const isNamed = (name: string, text: string): boolean => new RegExp(`\\b${name}\\b`).test(text);
  let referencedText = referenced.join(" ");
  for (let grew = true; grew; ) {
    grew = false;
    for (const [name, text] of declarationText) {
      if (text && isNamed(name, referencedText)) {
        referencedText += ` ${text}`;
        declarationText.delete(name);
        grew = true;
      }
    }
  }
  const helpers = names.filter((n) => n in ARG_HELPERS);
  const unexpectedExports = names.filter(
    (n) => !componentNames.has(n) && !(n in ARG_HELPERS) && !isNamed(n, referencedText),
  );
  components.sort((a, b) => a.name.localeCompare(b.name));
  return {
    markdown: renderMarkdown(components, helpers.sort()),
    components,
    undocumented,
    undefaulted,
    oneSidedConflicts,
    unexpectedExports,
  };
}

if (require.main === module) {
  const result = componentDocs();
  fs.writeFileSync(DOCS_FILE, result.markdown);
  const problems = [
    ...result.undocumented.map((f) => `${f}: Args field without TSDoc`),
    ...result.undefaulted.map(
      (f) => `${f}: optional Args field whose TSDoc has no sentence beginning "Default"`,
    ),
    ...result.oneSidedConflicts.map(
      (f) => `${f}: a conflict the other field does not state back, or no field`,
    ),
    ...result.unexpectedExports.map(
      (n) => `${n}: exported by components/index.ts but no component, Args or their type`,
    ),
  ];
  for (const p of problems) console.error(p);
  console.log(`wrote ${path.relative(process.cwd(), DOCS_FILE)}: ${result.components.length} components`);
  if (problems.length > 0) process.exit(1);
}
