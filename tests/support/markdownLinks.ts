/**
 * Relative links in the repository's Markdown: every link to a file must name one that exists, and every anchor
 * must be a heading of its target, slugged as GitHub slugs them.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface BrokenLink {
  readonly file: string;
  readonly link: string;
  readonly reason: string;
}

/** GitHub's heading slug: lower case, punctuation other than `-` and `_` dropped, spaces to `-`, repeats `-1`, `-2`. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\- _]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The targets of inline links `[text](target)` outside code fences and code spans. */
export function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    if (fenced) continue;
    const prose = line.replace(/`[^`]*`/g, "");
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) targets.push(match[1]);
  }
  return targets;
}

/** Checks the relative links of `files` (paths relative to `root`); external links are not fetched. */
export function brokenLinks(
  root: string,
  files: readonly string[],
): { checked: number; broken: BrokenLink[] } {
  const broken: BrokenLink[] = [];
  let checked = 0;
  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), "utf8");
    for (const link of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue;
      checked++;
      const [target, anchor] = link.split("#", 2);
      const targetFile = target === "" ? file : path.join(path.dirname(file), target);
      const absolute = path.join(root, targetFile);
      if (!fs.existsSync(absolute)) {
        broken.push({ file, link, reason: `${targetFile} does not exist` });
        continue;
      }
      if (anchor === undefined || fs.statSync(absolute).isDirectory()) continue;
      if (!headingAnchors(fs.readFileSync(absolute, "utf8")).has(anchor)) {
        broken.push({ file, link, reason: `${targetFile} has no heading with anchor #${anchor}` });
      }
    }
  }
  return { checked, broken };
}
