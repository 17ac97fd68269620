// kwok v0.8.0 copies an exec's stdin into the command's pipe but never closes the pipe, so a command that reads
// stdin to its end (`kubectl exec -i ... spire-server entry create -data -`) never sees EOF and hangs. A real
// kubelet closes it (kubernetes/kubernetes#13322). This closes it after the copy, as the kubelet does.
// Usage: node stdin-eof.patch.js <kwok source dir>
const fs = require("node:fs");
const path = require("node:path");

const file = path.join(process.argv[2], "pkg", "utils", "exec", "exec.go");
const before = "\t\t\t\t_, _ = io.Copy(inPipe, opt.In)\n\t\t\t}()";
const after = "\t\t\t\t_, _ = io.Copy(inPipe, opt.In)\n\t\t\t\t_ = inPipe.Close()\n\t\t\t}()";
const source = fs.readFileSync(file, "utf8");
if (source.split(before).length !== 2) {
  console.error(`${file}: the stdin copy to patch is not there exactly once; check the kwok version`);
  process.exit(1);
}
fs.writeFileSync(file, source.replace(before, after));
