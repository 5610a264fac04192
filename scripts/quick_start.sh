#!/usr/bin/env bash
# Quick start on one machine: installs what is missing (Node 24 into .runtime/, npm dependencies,
# nats-server from apt), builds, then runs nats-server + coordinator + one local worker in the
# foreground and prints the health and the node list. Ctrl-C stops everything.
#   ./scripts/quick_start.sh [--node-id NAME] [any other `ocf up` option]
set -euo pipefail
OCF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OCF_ROOT
cd "$OCF_ROOT"
# shellcheck source=lib/runtime.sh
. scripts/lib/runtime.sh

ocf_ensure_node
ocf_ensure_nats
echo "[setup] node $(node -v), $(nats-server --version 2>/dev/null || /usr/sbin/nats-server --version)" >&2

lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f node_modules/.ocf-lock-sum ] || [ "$(cat node_modules/.ocf-lock-sum)" != "$lock_sum" ]; then
  echo "[setup] installing npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_sum" > node_modules/.ocf-lock-sum
fi
echo "[setup] building" >&2
npm run --silent build >&2

exec "$OCF_ROOT/bin/ocf" up "$@"
