/** A `kubectl` first on the engine's PATH that logs each call's argv, then runs the real one; and its count. */
import * as fs from "node:fs";
import * as path from "node:path";
import { KUBERNETES_BIN_DIR } from "../local/cluster/cluster";

/** Writes the shim into `dir`; every call appends its argv, one line, to `log`. */
export function countingKubectl(dir: string, log: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const real = path.join(KUBERNETES_BIN_DIR, "kubectl");
  fs.writeFileSync(
    path.join(dir, "kubectl"),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`,
    { mode: 0o755 },
  );
}

/** The `kubectl exec` calls logged so far: the round trips to the SPIRE server a real cluster pays. */
export const execCalls = (log: string): number =>
  fs.existsSync(log)
    ? fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("exec ")).length
    : 0;
