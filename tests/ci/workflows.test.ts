/**
 * The GitHub workflows: actionlint finds nothing in them (and is shown to find real mistakes), and the structure
 * that matters holds: tests on every push, previews on pull requests for both stacks gated by the base commit's
 * policy pack, `pulumi up` only from main and gated by the pack too, secrets only inside GitHub environments.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { policies } from "../../policy/policies";
import { enginesFloor, installedNodeVersion, major } from "../support/nodeVersions";

const repoRoot = path.resolve(__dirname, "../..");
const workflowsDir = path.join(repoRoot, ".github", "workflows");
const actionlintBin = path.join(repoRoot, ".cache", "bin", "actionlint");

/** A GitHub expression as it appears in a workflow, `${{ body }}`. */
const expr = (body: string): string => `\${{ ${body} }}`;

interface Step {
  readonly name?: string;
  readonly "working-directory"?: string;
  readonly id?: string;
  readonly if?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, unknown>>;
}
interface Job {
  readonly if?: string;
  readonly "runs-on"?: unknown;
  readonly environment?: unknown;
  readonly permissions?: unknown;
  readonly concurrency?: { readonly group?: string; readonly "cancel-in-progress"?: unknown };
  readonly strategy?: {
    readonly matrix?: Readonly<Record<string, unknown>>;
    readonly "max-parallel"?: number;
    readonly "fail-fast"?: boolean;
  };
  readonly env?: Readonly<Record<string, unknown>>;
  readonly steps: readonly Step[];
}
interface Workflow {
  readonly on: unknown;
  readonly permissions?: unknown;
  readonly jobs: Readonly<Record<string, Job>>;
}

const workflowFiles = (): string[] =>
  readdirSync(workflowsDir)
    .filter((name) => name.endsWith(".yml") || name.endsWith(".yaml"))
    .sort();

function workflow(file: string): Workflow {
  // The yaml package follows YAML 1.2, so the `on:` key stays the string "on" (YAML 1.1 would make it `true`).
  return parse(readFileSync(path.join(workflowsDir, file), "utf8")) as Workflow;
}

/** `on:` as an event map, whichever of its three spellings (string, list, map) the file uses. */
function triggers(wf: Workflow): Record<string, unknown> {
  if (typeof wf.on === "string") return { [wf.on]: null };
  if (Array.isArray(wf.on)) return Object.fromEntries(wf.on.map((event: string) => [event, null]));
  return { ...(wf.on as Record<string, unknown>) };
}

const allSteps = (wf: Workflow): Step[] => Object.values(wf.jobs).flatMap((job) => [...job.steps]);

/** The one job of the workflow that has a step using `action` (any version), with that step. */
function jobUsing(wf: Workflow, action: string): { job: Job; step: Step; index: number } {
  const found = Object.values(wf.jobs).flatMap((job) =>
    job.steps.flatMap((step, index) => (step.uses?.split("@")[0] === action ? [{ job, step, index }] : [])),
  );
  assert.equal(found.length, 1, `expected exactly one step using ${action}`);
  return found[0];
}

/** The actionlint version tools/actionlint/go.mod pins: the binary must be that one, not whatever is lying around. */
function pinnedActionlintVersion(): string {
  const goMod = readFileSync(path.join(repoRoot, "tools", "actionlint", "go.mod"), "utf8");
  const match = /^\s*(?:require\s+)?github\.com\/rhysd\/actionlint\s+(v\S+)/m.exec(goMod);
  assert.ok(match, "tools/actionlint/go.mod does not require github.com/rhysd/actionlint");
  return match[1];
}

/**
 * Runs actionlint on the given files. shellcheck and pyflakes are switched off: actionlint uses them only when
 * they happen to be on PATH (they are on GitHub's runners, not here), and the verdict must not depend on the
 * machine.
 */
function actionlint(files: readonly string[]): { status: number | null; output: string } {
  // A missing linter is a failure, never a skip: a skipped check looks exactly like a passing one.
  assert.ok(existsSync(actionlintBin), "actionlint not found: run bash scripts/install-actionlint.sh");
  const version = spawnSync(actionlintBin, ["-version"], { encoding: "utf8" });
  assert.ifError(version.error);
  const expected = pinnedActionlintVersion();
  assert.equal(
    version.stdout.split("\n")[0],
    expected,
    `${actionlintBin} is not actionlint ${expected}: run bash scripts/install-actionlint.sh`,
  );
  const result = spawnSync(actionlintBin, ["-no-color", "-shellcheck=", "-pyflakes=", ...files], {
    cwd: repoRoot,
    encoding: "utf8",
  });
  assert.ifError(result.error);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * Every action pinned to a major tag. pulumi/actions@v7 is newer than actionlint 1.7.12's table of known actions,
 * so actionlint cannot check its inputs; PULUMI_INPUTS (its action.yml, unchanged from v6 but for the runtime)
 * does that below.
 */
const PINNED: Readonly<Record<string, string>> = {
  "actions/checkout": "v4",
  "actions/setup-node": "v4",
  "actions/setup-go": "v5",
  "actions/cache": "v4",
  "pulumi/actions": "v7",
  "aws-actions/configure-aws-credentials": "v4",
};
const PULUMI_INPUTS = new Set([
  "always-include-summary",
  "cloud-url",
  "color",
  "command",
  "comment-on-pr",
  "comment-on-pr-number",
  "comment-on-summary",
  "config-map",
  "continue-on-error",
  "debug",
  "diff",
  "edit-pr-comment",
  "exclude",
  "exclude-dependents",
  "exclude-protected",
  "expect-no-changes",
  "github-token",
  "log-flow",
  "log-verbosity",
  "message",
  "parallel",
  "plan",
  "policyPackConfigs",
  "policyPacks",
  "pulumi-version",
  "pulumi-version-file",
  "refresh",
  "remove",
  "replace",
  "secrets-provider",
  "stack-name",
  "suppress-outputs",
  "suppress-progress",
  "target",
  "target-dependents",
  "upsert",
  "work-dir",
]);

describe("GitHub workflows", () => {
  it("has the test, preview, deploy and drift workflows", () => {
    const files = workflowFiles();
    for (const file of ["deploy.yml", "drift.yml", "preview.yml", "test.yml"])
      assert.ok(files.includes(file), file);
  });

  describe("actionlint", () => {
    it("finds no problem in any workflow", () => {
      const files = workflowFiles().map((name) => path.join(".github", "workflows", name));
      const { status, output } = actionlint(files);
      assert.equal(output, "", `actionlint findings:\n${output}`);
      assert.equal(status, 0);
    });

    it("really checks: it rejects a workflow with an undefined matrix key and an unknown runner label", () => {
      const dir = mkdtempSync(path.join(tmpdir(), "actionlint-"));
      try {
        const broken = path.join(dir, "broken.yml");
        writeFileSync(
          broken,
          [
            "on: push",
            "jobs:",
            "  build:",
            "    runs-on: ubuntu-nonexistent-label",
            "    strategy:",
            "      matrix:",
            "        stack: [dev, eks]",
            "    steps:",
            `      - run: echo ${expr("matrix.nope")}`,
            "",
          ].join("\n"),
        );
        const { status, output } = actionlint([broken]);
        // 1 is "problems found"; 2 and 3 would be actionlint itself failing, which proves nothing.
        assert.equal(status, 1, output);
        assert.match(output, /property "nope" is not defined/);
        assert.match(output, /label "ubuntu-nonexistent-label" is unknown/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it("pins every action to its major version tag", () => {
    for (const file of workflowFiles()) {
      for (const step of allSteps(workflow(file))) {
        if (!step.uses) continue;
        const [ref, tag] = step.uses.split("@");
        // actions/cache/restore and actions/cache/save are parts of actions/cache and share its tag.
        const action = ref.split("/").slice(0, 2).join("/");
        assert.ok(action in PINNED, `${file}: ${step.uses} is not one of the allowed actions`);
        assert.equal(tag, PINNED[action], `${file}: ${step.uses} must be pinned to @${PINNED[action]}`);
      }
    }
  });

  // A workflow on another Node.js than the tests would preview and deploy with a runtime nobody tested.
  it("sets up the Node.js major setup installs (supported by engines) in every workflow", () => {
    const installed = major(installedNodeVersion());
    assert.ok(installed >= enginesFloor("package.json"));
    const setups = workflowFiles().flatMap((file) =>
      allSteps(workflow(file))
        .filter((step) => step.uses?.split("@")[0] === "actions/setup-node")
        .map((step) => ({ file, version: String(step.with?.["node-version"]) })),
    );
    assert.ok(setups.length >= 3, `setup-node steps found: ${JSON.stringify(setups)}`);
    for (const { file, version } of setups) {
      assert.equal(version, String(installed), `${file}: setup-node node-version ${version}`);
    }
  });

  it("passes pulumi/actions only inputs its action.yml declares", () => {
    for (const file of workflowFiles()) {
      for (const step of allSteps(workflow(file))) {
        if (step.uses?.split("@")[0] !== "pulumi/actions") continue;
        for (const input of Object.keys(step.with ?? {})) {
          assert.ok(PULUMI_INPUTS.has(input), `${file}: pulumi/actions has no input "${input}"`);
        }
      }
    }
  });

  it("runs `pulumi up` from deploy.yml only, and no workflow destroys", () => {
    for (const file of workflowFiles()) {
      for (const step of allSteps(workflow(file))) {
        if (step.uses?.split("@")[0] === "pulumi/actions") {
          assert.notEqual(step.with?.command, "destroy", `${file} destroys a stack`);
          if (file !== "deploy.yml") assert.notEqual(step.with?.command, "up", `${file} deploys`);
        }
        assert.doesNotMatch(step.run ?? "", /\bpulumi\s+(up|update|destroy)\b/, `${file} runs pulumi itself`);
      }
    }
  });

  describe("test.yml", () => {
    const wf = () => workflow("test.yml");

    it("runs on every push and pull request, unfiltered", () => {
      const on = triggers(wf());
      assert.deepEqual(Object.keys(on).sort(), ["pull_request", "push"]);
      // A branch or path filter would let some pushes through untested.
      assert.equal(on.push, null);
      assert.equal(on.pull_request, null);
    });

    it("only reads the repository", () => {
      assert.deepEqual(wf().permissions, { contents: "read" });
    });

    it("runs `bash .ci/run`, the CI entry point, as root after Node.js and Go 1.26 are set up", () => {
      const steps = [...wf().jobs.test.steps];
      const run = steps.findIndex((step) => /(^|\s)bash \.ci\/run$/.test(step.run?.trim() ?? ""));
      assert.ok(run >= 0, "no step runs `bash .ci/run`");
      assert.match(String(steps[run].run), /^sudo /, "the loopback cluster needs root");
      const node = steps.findIndex((step) => step.uses === "actions/setup-node@v4");
      const go = steps.findIndex((step) => step.uses === "actions/setup-go@v5");
      assert.ok(node >= 0 && node < run, "setup-node must come before .ci/run");
      assert.ok(go >= 0 && go < run, "setup-go must come before .ci/run");
      assert.equal(String(steps[node].with?.["node-version"]), String(major(installedNodeVersion())));
      assert.equal(steps[node].with?.cache, "npm");
      assert.equal(steps[go].with?.["go-version"], "1.26");
      assert.equal(steps[go].with?.cache, true);
    });

    it("restores the built tools before .ci/run, keyed on every tools module and install script", () => {
      const steps = [...wf().jobs.test.steps];
      const run = steps.findIndex((step) => /(^|\s)bash \.ci\/run$/.test(step.run?.trim() ?? ""));
      const restore = steps.findIndex((step) => step.uses === "actions/cache/restore@v4");
      const save = steps.findIndex((step) => step.uses === "actions/cache/save@v4");
      assert.ok(restore >= 0 && restore < run, "the tools cache must be restored before .ci/run");
      assert.ok(save > run, "the tools cache must be saved after .ci/run");
      for (const index of [restore, save]) {
        assert.deepEqual(String(steps[index].with?.path).trim().split("\n"), [
          ".cache/spire",
          ".cache/pulumi",
          ".cache/kubernetes",
        ]);
      }
      const key = String(steps[restore].with?.key);
      assert.match(
        key,
        /hashFiles\('tools\/\*\/go\.sum', 'scripts\/install-\*\.sh', 'scripts\/lib\/\*\.sh'\)/,
      );
      assert.equal(steps[save].with?.key, expr(`steps.${steps[restore].id}.outputs.cache-primary-key`));
    });
  });

  describe("preview.yml", () => {
    const wf = () => workflow("preview.yml");

    it("runs on pull requests only", () => {
      assert.deepEqual(Object.keys(triggers(wf())), ["pull_request"]);
    });

    it("may comment on the PR and get an OIDC token, and otherwise only read", () => {
      assert.deepEqual(wf().permissions, { contents: "read", "pull-requests": "write", "id-token": "write" });
    });

    it("previews both stacks with pulumi/actions@v7 and comments on the PR", () => {
      const { job, step } = jobUsing(wf(), "pulumi/actions");
      assert.equal(step.uses, "pulumi/actions@v7");
      assert.deepEqual(job.strategy?.matrix, { stack: ["dev", "eks"] });
      assert.equal(job.strategy?.["fail-fast"], false);
      assert.equal(step.with?.command, "preview");
      assert.equal(step.with?.["stack-name"], expr("matrix.stack"));
      assert.equal(step.with?.["comment-on-pr"], true);
      assert.equal(step.with?.["github-token"], expr("secrets.GITHUB_TOKEN"));
      assert.equal(step.with?.["cloud-url"], expr("vars.PULUMI_BACKEND_URL"));
    });

    it("has one preview per PR and stack at a time", () => {
      const { job } = jobUsing(wf(), "pulumi/actions");
      assert.match(job.concurrency?.group ?? "", /github\.event\.pull_request\.number/);
      assert.match(job.concurrency?.group ?? "", /matrix\.stack/);
      assert.equal(job.concurrency?.["cancel-in-progress"], true);
    });

    it("runs in the environment preview-<stack>, never a deploy one, whose protection rules would hold it up", () => {
      const { job } = jobUsing(wf(), "pulumi/actions");
      assert.equal(job.environment, `preview-${expr("matrix.stack")}`);
    });

    it("writes the read-only kubeconfig for the dev stack, never the deploy one, and does not refresh", () => {
      const kubeconfigSecret = (file: string) => {
        const { job, index } = jobUsing(workflow(file), "pulumi/actions");
        const steps = job.steps.slice(0, index).filter((step) => step.run?.includes("KUBECONFIG="));
        assert.equal(steps.length, 1, `${file}: one step writes the kubeconfig`);
        return steps[0].env?.KUBECONFIG_CONTENT;
      };
      assert.equal(kubeconfigSecret("preview.yml"), expr("secrets.PREVIEW_KUBECONFIG"));
      assert.notEqual(kubeconfigSecret("deploy.yml"), kubeconfigSecret("preview.yml"));
      // A refresh would read every object the stack manages, Secrets' data included: more than read-only grants.
      assert.equal(jobUsing(wf(), "pulumi/actions").step.with?.refresh, undefined);
    });

    it("installs dependencies and credentials before previewing", () => expectCredentialSetup(wf()));

    describe("the spire-mesh policy pack", () => {
      /** The pack's directory in the job: policy/ of the base commit's checkout (asserted by the first test). */
      const basePolicy = () => `${baseCheckoutPath(jobUsing(wf(), "pulumi/actions").job)}/policy`;

      it("comes from a checkout of the PR's base commit, made after the program's, never from the PR", () => {
        const { job, step, index } = jobUsing(wf(), "pulumi/actions");
        const base = baseCheckoutPath(job);
        assert.equal(step.with?.policyPacks, `${base}/policy`);
        // The config can relax the pack as much as the pack itself.
        assert.equal(step.with?.policyPackConfigs, `${base}/policy/walkthrough.json`);
        // pulumi/actions resolves both against work-dir, the repository root here.
        assert.equal(step.with?.["work-dir"], undefined);
        const checkouts = job.steps.flatMap((s, i) =>
          s.uses?.split("@")[0] === "actions/checkout" ? [i] : [],
        );
        assert.equal(checkouts.length, 2, "one checkout for the program, one for the base commit's pack");
        const [program, pack] = checkouts.map((i) => job.steps[i]);
        // The program's checkout goes to the workspace root (and would clean out a checkout made before it).
        assert.equal(program.with?.path, undefined);
        assert.equal(program.with?.ref, undefined);
        assert.equal(pack.with?.path, base);
        assert.ok(checkouts[1] < index);
      });

      it("runs with the walkthrough stacks' pack config, naming only policies the pack has", () => {
        assert.ok(existsSync(path.join(repoRoot, "policy", "PulumiPolicy.yaml")));
        const config = JSON.parse(readFileSync(path.join(repoRoot, "policy", "walkthrough.json"), "utf8"));
        const names = policies.map((p) => p.name);
        for (const key of Object.keys(config)) assert.ok(names.includes(key), `no policy ${key}`);
      });

      it("has its dependencies installed in the base commit's policy/ before the preview", () => {
        const { job, index } = jobUsing(wf(), "pulumi/actions");
        expectPackInstalled(job, index, basePolicy());
      });

      /** The step that comments violations when the preview fails, and its script run with stub CLIs. */
      function commentStep(): Step {
        const { job, step, index } = jobUsing(wf(), "pulumi/actions");
        assert.ok(step.id, "the preview step needs an id for the comment step to test its outcome");
        const after = job.steps.slice(index + 1).filter((s) => s.run?.includes("gh pr comment"));
        assert.equal(after.length, 1, "one step after the preview comments on the PR");
        return after[0];
      }

      it("comments the violations when the preview fails: pulumi/actions comments only on success", () => {
        const { step } = jobUsing(wf(), "pulumi/actions");
        const comment = commentStep();
        assert.equal(comment.if, `failure() && steps.${step.id}.outcome == 'failure'`);
        assert.deepEqual(comment.env, {
          GH_TOKEN: expr("secrets.GITHUB_TOKEN"),
          GH_REPO: expr("github.repository"),
          PR_NUMBER: expr("github.event.pull_request.number"),
          STACK: expr("matrix.stack"),
        });
        // The same pack and config as the failed preview; inputs reach the script through env only.
        assert.ok(
          comment.run?.includes(
            `--policy-pack ${basePolicy()} --policy-pack-config ${basePolicy()}/walkthrough.json`,
          ),
          "the comment step previews with another pack than the preview step",
        );
        assert.doesNotMatch(comment.run ?? "", /\$\{\{/);
      });

      /** Runs the comment step's script as GitHub does (bash -eo pipefail) with stub `pulumi` and `gh`. */
      function runCommentScript(previewOutput: string, previewStatus: number) {
        const dir = mkdtempSync(path.join(tmpdir(), "policy-comment-"));
        try {
          const bin = path.join(dir, "bin");
          const out = path.join(dir, "preview-output.txt");
          writeFileSync(out, previewOutput);
          const stub = (name: string, body: string) => {
            writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
          };
          mkdirSync(bin);
          stub("pulumi", `echo "$@" >"${dir}/pulumi-args"; cat "${out}"; exit ${previewStatus}`);
          stub("gh", `echo "$@" >"${dir}/gh-args"; cat "$5" >"${dir}/gh-body"`);
          const script = path.join(dir, "step.sh");
          writeFileSync(script, commentStep().run ?? "");
          const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
            encoding: "utf8",
            env: {
              ...process.env,
              PATH: `${bin}:${process.env.PATH}`,
              RUNNER_TEMP: dir,
              STACK: "dev",
              PR_NUMBER: "42",
            },
          });
          const read = (f: string) =>
            existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), "utf8") : undefined;
          return {
            status: r.status,
            stdout: r.stdout,
            pulumiArgs: read("pulumi-args"),
            ghArgs: read("gh-args"),
            body: read("gh-body"),
          };
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }

      it("posts the Policies section of the failed preview, and nothing when the pack never ran", () => {
        const policiesSection = [
          "Policies:",
          "    ❌ spire-mesh@v0.1.0 (local: policy)",
          "        - [mandatory]  identities-registered  (spire-mesh:index:MtlsVirtualNode: colorapp-green)",
          "          Every identity in the mesh is registered: ...",
          "          MtlsVirtualNode green: identity spiffe://example.org/colorgreen has no SPIRE entry in this stack",
          "",
        ].join("\n");
        const failed = runCommentScript(
          `Previewing update (dev):\n\n${policiesSection}\nDiagnostics:\n  error: preview failed\n`,
          1,
        );
        assert.equal(failed.status, 0, failed.stdout);
        assert.equal(
          failed.pulumiArgs?.trim(),
          `preview --stack dev --non-interactive --color never --policy-pack ${basePolicy()} --policy-pack-config ${basePolicy()}/walkthrough.json`,
        );
        assert.match(failed.ghArgs ?? "", /^pr comment 42 --body-file \S+policy-comment\.md$/m);
        assert.equal(
          failed.body,
          `#### :no_entry: \`preview\` on dev failed the spire-mesh policy pack\n\n\`\`\`\n${policiesSection.trimEnd()}\n\`\`\`\n`,
        );

        const broken = runCommentScript("error: could not load plugin\n", 255);
        assert.equal(broken.status, 0, broken.stdout);
        assert.equal(broken.ghArgs, undefined);
        assert.match(broken.stdout, /No policy results \(the preview exited 255 before the pack ran\)/);
      });
    });
  });

  describe("deploy.yml", () => {
    const wf = () => workflow("deploy.yml");

    it("runs on pushes to main and by hand, and deploys only from main", () => {
      const on = triggers(wf());
      assert.deepEqual(Object.keys(on).sort(), ["push", "workflow_dispatch"]);
      assert.deepEqual(on.push, { branches: ["main"] });
      // workflow_dispatch may be started on any branch: the job itself must refuse anything but main.
      const { job } = jobUsing(wf(), "pulumi/actions");
      assert.equal(job.if, "github.ref == 'refs/heads/main'");
    });

    it("needs no PR permissions", () => {
      assert.deepEqual(wf().permissions, { contents: "read", "id-token": "write" });
    });

    it("runs `pulumi up` per stack, one at a time, in the stack's GitHub environment", () => {
      const { job, step } = jobUsing(wf(), "pulumi/actions");
      assert.equal(step.uses, "pulumi/actions@v7");
      assert.equal(step.with?.command, "up");
      assert.equal(step.with?.["stack-name"], expr("matrix.stack"));
      assert.equal(step.with?.["cloud-url"], expr("vars.PULUMI_BACKEND_URL"));
      assert.deepEqual(job.strategy?.matrix, { stack: ["dev", "eks"] });
      assert.equal(job.strategy?.["max-parallel"], 1);
      assert.equal(job.environment, expr("matrix.stack"));
    });

    it("queues deploys of a stack and never cancels one in progress", () => {
      const { job } = jobUsing(wf(), "pulumi/actions");
      assert.match(job.concurrency?.group ?? "", /matrix\.stack/);
      assert.equal(job.concurrency?.["cancel-in-progress"], false);
    });

    it("installs dependencies and credentials before deploying", () => expectCredentialSetup(wf()));

    it("runs the policy pack of the deployed commit, with the same config as the preview", () => {
      const { job, step, index } = jobUsing(wf(), "pulumi/actions");
      assert.equal(step.with?.policyPacks, "policy");
      assert.equal(step.with?.policyPackConfigs, "policy/walkthrough.json");
      assert.equal(step.with?.["work-dir"], undefined);
      // The one checkout is of the pushed commit on main: no other ref, no other path.
      const checkouts = job.steps.filter((s) => s.uses?.split("@")[0] === "actions/checkout");
      assert.equal(checkouts.length, 1);
      assert.equal(checkouts[0].with?.ref, undefined);
      assert.equal(checkouts[0].with?.path, undefined);
      expectPackInstalled(job, index, "policy");
    });
  });

  describe("drift.yml", () => {
    const wf = () => workflow("drift.yml");
    /** The step that runs the check and writes the summary. */
    const checkStep = () => {
      const steps = allSteps(wf()).filter((s) => /\bnpm run --silent drift\b/.test(s.run ?? ""));
      assert.equal(steps.length, 1, "one step runs the drift check");
      return steps[0];
    };

    it("runs on a schedule and by hand, never on a push", () => {
      const on = triggers(wf());
      assert.deepEqual(Object.keys(on).sort(), ["schedule", "workflow_dispatch"]);
      assert.equal((on.schedule as { cron: string }[]).length, 1);
    });

    it("only reads the repository (and takes an OIDC token for the AWS role)", () => {
      assert.deepEqual(wf().permissions, { contents: "read", "id-token": "write" });
    });

    it("checks each stack in its own drift environment; one stack's drift does not cancel the other's check", () => {
      const { job } = jobUsing(wf(), "pulumi/actions");
      assert.deepEqual(job.strategy?.matrix, { stack: ["dev", "eks"] });
      assert.equal(job.strategy?.["fail-fast"], false);
      assert.equal(job.environment, `drift-${expr("matrix.stack")}`);
      assert.equal(checkStep().env?.STACK, expr("matrix.stack"));
    });

    it("installs, builds the runners' spire/ and sets up the credentials before the check", () => {
      expectCredentialSetup(wf());
      const steps = [...jobUsing(wf(), "pulumi/actions").job.steps];
      const build = steps.findIndex((s) => s.run?.trim() === "npm run build");
      const login = steps.findIndex((s) => /^pulumi login "\$BACKEND_URL"$/.test(s.run?.trim() ?? ""));
      const check = steps.findIndex((s) => s.run === checkStep().run);
      assert.ok(build >= 0 && build < check, "npm run build before the check");
      assert.ok(login >= 0 && login < check, "pulumi login before the check");
      // The CLI only: pulumi/actions without a command installs it and runs nothing.
      assert.deepEqual(jobUsing(wf(), "pulumi/actions").step.with, undefined);
    });

    /** Runs the check step's script as GitHub does, with a stub `npm` printing `output` and exiting `status`. */
    function runCheck(output: string, status: number) {
      const dir = mkdtempSync(path.join(tmpdir(), "drift-check-"));
      try {
        const bin = path.join(dir, "bin");
        mkdirSync(bin);
        writeFileSync(path.join(dir, "output"), output);
        writeFileSync(
          path.join(bin, "npm"),
          `#!/bin/sh\necho "$@" >"${dir}/npm-args"\ncat "${dir}/output"\nexit ${status}\n`,
          { mode: 0o755 },
        );
        const script = path.join(dir, "step.sh");
        writeFileSync(script, checkStep().run ?? "");
        const summary = path.join(dir, "summary.md");
        writeFileSync(summary, "");
        const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
          encoding: "utf8",
          env: {
            ...process.env,
            PATH: `${bin}:${process.env.PATH}`,
            RUNNER_TEMP: dir,
            GITHUB_STEP_SUMMARY: summary,
            STACK: "eks",
          },
        });
        return {
          status: r.status,
          log: r.stdout,
          npmArgs: readFileSync(path.join(dir, "npm-args"), "utf8").trim(),
          summary: readFileSync(summary, "utf8"),
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }

    it("fails a drifted stack's job with the difference in the job summary, and only checks", () => {
      const report = [
        "spire-mesh/eks: entries under spire-mesh.eks. on kubectl exec -i -n spire spire-server-0 -c spire-server -- /opt/spire/bin/spire-server",
        "  changed     spire-mesh.eks.front (spiffe://howto-k8s-mtls-sds-based.aws/front), declared by SpireEntry front",
        "                admin: true → false",
        "spire-mesh/eks: drift: 0 missing, 1 changed, 0 unexpected; 3 of 4 declared entries on 1 server as declared",
      ].join("\n");
      const drifted = runCheck(`${report}\n`, 1);
      assert.equal(drifted.status, 1, "the job fails");
      assert.equal(drifted.npmArgs, "run --silent drift -- --stack eks", "a check, never --repair");
      assert.equal(drifted.log, `${report}\n`, "the log shows the report too");
      assert.equal(
        drifted.summary,
        [
          "#### :warning: eks drifted: SPIRE does not hold what the stack declares",
          "",
          "Read the difference; to put the stack's view back: `npm run drift -- --stack eks --repair`",
          "",
          "```",
          report,
          "```",
          "",
        ].join("\n"),
      );

      const clean = runCheck("spire-mesh/eks: no drift: all 4 declared entries on 1 server as declared\n", 0);
      assert.equal(clean.status, 0);
      assert.match(
        clean.summary,
        /^#### :white_check_mark: eks: SPIRE holds what the stack declares\n\n```\nspire-mesh\/eks: no drift/,
      );

      const broken = runCheck(
        "spire-drift: pulumi stack export --stack eks exited 255: no stack named eks\n",
        2,
      );
      assert.equal(broken.status, 2, "a check that could not run fails too");
      assert.match(
        broken.summary,
        /^#### :x: the drift check of eks could not run \(exit 2\)\n\n```\nspire-drift: pulumi stack export/,
      );
    });
  });

  it("gives secrets only to jobs in a GitHub environment", () => {
    let jobsWithSecrets = 0;
    for (const file of workflowFiles()) {
      for (const [name, job] of Object.entries(workflow(file).jobs)) {
        if (!/\bsecrets\./.test(JSON.stringify(job))) continue;
        jobsWithSecrets++;
        assert.ok(job.environment, `${file}: job ${name} uses secrets outside any environment`);
      }
    }
    // preview, deploy and drift use secrets: a floor, so that a parse that finds no job passes nothing.
    assert.ok(jobsWithSecrets >= 3, `only ${jobsWithSecrets} jobs use secrets`);
  });
});

/**
 * The path of the job's checkout of the PR's base commit (exactly one), where the pack comes from. Not the PR's
 * head or merge commit: a PR must not choose the rules it is checked by.
 */
function baseCheckoutPath(job: Job): string {
  const base = job.steps.filter(
    (step) =>
      step.uses?.split("@")[0] === "actions/checkout" &&
      step.with?.ref === expr("github.event.pull_request.base.sha"),
  );
  assert.equal(base.length, 1, "expected one checkout of github.event.pull_request.base.sha");
  const checkoutPath = base[0].with?.path;
  assert.ok(typeof checkoutPath === "string" && checkoutPath !== "", "the base checkout needs its own path");
  return checkoutPath;
}

/** `npm ci` in the pack's directory before pulumi/actions, with its lock file in setup-node's cache key. */
function expectPackInstalled(job: Job, pulumi: number, packDir: string): void {
  const install = job.steps.findIndex(
    (step) => step["working-directory"] === packDir && /^npm ci\b/.test(step.run?.trim() ?? ""),
  );
  assert.ok(install >= 0 && install < pulumi, `npm ci in ${packDir} must run before pulumi/actions`);
  const node = job.steps.find((step) => step.uses === "actions/setup-node@v4");
  assert.deepEqual(String(node?.with?.["cache-dependency-path"]).trim().split("\n"), [
    "package-lock.json",
    `${packDir}/package-lock.json`,
  ]);
}

/**
 * What preview and deploy both need before pulumi/actions runs: npm ci (the action does not install the program's
 * dependencies), the passphrase of the DIY backend's secrets, AWS credentials through OIDC for the eks stack, and
 * the dev cluster's kubeconfig written to a file that KUBECONFIG names.
 */
function expectCredentialSetup(wf: Workflow): void {
  const { job, index: pulumi } = jobUsing(wf, "pulumi/actions");
  const before = job.steps.slice(0, pulumi);

  assert.ok(
    before.some((step) => /^npm ci\b/.test(step.run?.trim() ?? "")),
    "npm ci must run before pulumi/actions",
  );
  assert.equal(job.env?.PULUMI_CONFIG_PASSPHRASE, expr("secrets.PULUMI_CONFIG_PASSPHRASE"));

  const aws = before.find((step) => step.uses?.split("@")[0] === "aws-actions/configure-aws-credentials");
  assert.ok(aws, "AWS credentials must be configured before pulumi/actions");
  assert.match(aws.if ?? "", /matrix\.stack == 'eks'/);
  assert.match(String(aws.with?.["role-to-assume"]), /^\$\{\{ vars\.\w+ \}\}$/);
  // Long-lived keys would defeat the OIDC role.
  assert.equal(aws.with?.["aws-access-key-id"], undefined);
  assert.equal(aws.with?.["aws-secret-access-key"], undefined);

  const kubeconfig = before.find(
    (step) => step.if === "matrix.stack == 'dev'" && step.run?.includes("KUBECONFIG="),
  );
  assert.ok(kubeconfig, "the dev stack's kubeconfig must be written before pulumi/actions");
  assert.match(String(kubeconfig.env?.KUBECONFIG_CONTENT), /^\$\{\{ secrets\.\w+ \}\}$/);
  // The secret reaches the script through env only: inlined into the script text it would be re-parsed by bash.
  assert.doesNotMatch(kubeconfig.run ?? "", /\$\{\{/);
  assert.match(kubeconfig.run ?? "", />> "\$GITHUB_ENV"/);
}
