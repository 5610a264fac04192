#!/usr/bin/env bash
# Manage the fleet from the master, as the seed describes it (a thin wrapper over bin/ocf):
#   bin/manage-federation.sh pending              join requests waiting, with their IDs
#   bin/manage-federation.sh approve <ID>         let that worker in
#   bin/manage-federation.sh reject <ID>          refuse it (or several: --all | --address IP | --older-than 1h)
#   bin/manage-federation.sh list                 nodes with status and load
#   bin/manage-federation.sh exec <node> "cmd"    run on one node (by name or ID)
#   bin/manage-federation.sh broadcast "cmd"      run on every online node at once
#   bin/manage-federation.sh remove <node>        cut a node off
#   bin/manage-federation.sh health | audit       coordinator health, the audit trail
# Add --json for machine-readable output. It uses the master's settings written by
# bin/deploy-federation.sh master (~/.config/openclaw-federation/master.env) when present.
set -euo pipefail
OCF_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -gt 0 ] || { usage >&2; exit 2; }
env_file="${OCF_DEPLOY_ENV:-$HOME/.config/openclaw-federation/master.env}"
# shellcheck disable=SC1090
if [ -f "$env_file" ]; then set -a; . "$env_file"; set +a; fi
json=()
args=()
for arg in "$@"; do if [ "$arg" = --json ]; then json=(--json); else args+=("$arg"); fi; done
set -- "${args[@]}"
ocf() { exec "$OCF_ROOT/bin/ocf" "${json[@]}" "$@"; }
need() { [ "$1" -ge "$2" ] || { echo "manage-federation.sh: $3" >&2; exit 2; }; }
verb="$1"
shift
case "$verb" in
  -h|--help|help) usage ;;
  pending) ocf nodes pending ;;
  approve) need $# 1 "approve needs the request ID shown by: manage-federation.sh pending"; ocf nodes approve "$@" ;;
  reject) need $# 1 "reject needs the request ID shown by: manage-federation.sh pending (or --all, --address IP, --older-than 1h)"; ocf nodes reject "$@" ;;
  list|ls) ocf nodes list ;;
  show) need $# 1 "show needs a node name or ID"; ocf nodes show "$@" ;;
  remove) need $# 1 "remove needs a node name or ID"; ocf nodes remove "$@" ;;
  exec) need $# 2 'usage: manage-federation.sh exec <node> "command"'; ocf exec "$@" ;;
  broadcast) need $# 1 'usage: manage-federation.sh broadcast "command"'; ocf broadcast "$@" ;;
  health) ocf health ;;
  audit) ocf audit "$@" ;;
  *) echo "manage-federation.sh: unknown command \"$verb\" (see --help)" >&2; exit 2 ;;
esac
