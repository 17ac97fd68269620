/** Every relative link and anchor in the repository's Markdown resolves, so moving a section cannot strand a link. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { brokenLinks, headingAnchors } from "../support/markdownLinks";

const REPO = path.resolve(__dirname, "../..");
const trackedMarkdown = () =>
  execFileSync("git", ["ls-files", "*.md"], { cwd: REPO, encoding: "utf8" })
    .split("\n")
    .filter((f) => f !== "" && fs.existsSync(path.join(REPO, f)));

describe("Markdown links", () => {
  it("resolve: every relative link names an existing file and an existing heading", () => {
    const files = trackedMarkdown();
    assert.ok(
      files.includes("README.md") && files.length >= 5,
      `too few Markdown files: ${files.join(", ")}`,
    );
    const { checked, broken } = brokenLinks(REPO, files);
    assert.ok(checked >= 20, `only ${checked} relative links were checked`);
    assert.deepEqual(broken, []);
  });

  it("are caught when broken: a missing file, a missing anchor, an anchor in another file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "links-"));
    fs.mkdirSync(path.join(dir, "docs"));
    fs.writeFileSync(path.join(dir, "docs/a.md"), "# A\n\n## Two words, `code`!\n\n## Two words, `code`!\n");
    fs.writeFileSync(
      path.join(dir, "README.md"),
      [
        "[ok](docs/a.md#two-words-code)",
        "[ok, repeat](docs/a.md#two-words-code-1)",
        "[gone](docs/b.md)",
        "[no anchor](docs/a.md#three)",
        "[here](#nowhere)",
        "`[in code](docs/c.md)`",
      ].join("\n"),
    );
    const { checked, broken } = brokenLinks(dir, ["README.md"]);
    assert.equal(checked, 5);
    assert.deepEqual(
      broken.map((b) => b.link),
      ["docs/b.md", "docs/a.md#three", "#nowhere"],
    );
  });

  it("slug headings as GitHub does", () => {
    assert.deepEqual(
      [
        ...headingAnchors(
          "# Multi-cluster: SPIFFE federation with stack references\n## `pulumi up`, offline\n",
        ),
      ],
      ["multi-cluster-spiffe-federation-with-stack-references", "pulumi-up-offline"],
    );
  });
});
