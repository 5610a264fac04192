#!/usr/bin/env bash
# npm run bench [-- --quick | --skip ... | --processes N | --max-nodes N]: the benchmark from a fresh
# clone. Node 24 from .runtime/ when the system Node is older (as npm test does), dependencies and
# nats-server when missing, a current build, then bench/run.ts; with `soak` first (npm run soak
# [-- --minutes N ...]) bench/soak.ts instead. ssh baselines want openssh-server, openssh-client and
# pssh (and ansible); what is missing is reported, not guessed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OCF_ROOT="$(pwd)"
export OCF_ROOT
# shellcheck source=lib/runtime.sh
. scripts/lib/runtime.sh
ocf_ensure_node
[ -d node_modules/tsx ] || npm ci --no-audit --no-fund --loglevel=error
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || ocf_ensure_nats
case " $* " in
  *" --help "* | *" -h "*) ;; # help needs no build
  *) npm run build --silent ;;
esac
entry=bench/run.ts
if [ "${1:-}" = soak ]; then
  entry=bench/soak.ts
  shift
fi
exec node --import tsx "$entry" "$@"
