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

ocf_ensure_deps
ocf_ensure_build

exec "$OCF_ROOT/bin/ocf" up "$@"
