#!/usr/bin/env bash
# Approve new workers automatically, as the seed describes it (a thin wrapper over bin/ocf):
#   bin/auto-register.sh            approve every pending join request once
#   bin/auto-register.sh --watch    keep running and approve each new worker as it asks (Ctrl-C stops)
#   bin/auto-register.sh --watch --interval 5s
# Only use it on a network where every machine that can reach the master is yours (a tailnet).
set -euo pipefail
OCF_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
env_file="${OCF_DEPLOY_ENV:-$HOME/.config/openclaw-federation/master.env}"
# shellcheck disable=SC1090
if [ -f "$env_file" ]; then set -a; . "$env_file"; set +a; fi
exec "$OCF_ROOT/bin/ocf" auto-approve "$@"
