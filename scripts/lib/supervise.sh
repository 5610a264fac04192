#!/usr/bin/env bash
# Keep one service running where systemd is not (containers, some SBC images): run the command,
# restart it when it exits (1 s backoff doubling to 30 s, reset after a minute of good running),
# stop it on SIGTERM/SIGINT. Used by bin/deploy-federation.sh in its supervised mode.
#   supervise.sh PIDFILE LOGFILE -- command [args...]
# PIDFILE holds this supervisor's pid (its process group is the service); LOGFILE gets the
# service's stdout/stderr and one line per restart.
set -uo pipefail
pidfile="$1"
logfile="$2"
shift 2
[ "${1:-}" = "--" ] && shift
echo "$$" > "$pidfile"
child=""
stopping=""
stop() {
  stopping=1
  if [ -n "$child" ]; then
    kill -TERM "$child" 2>/dev/null
    # Give the service time to stop cleanly, then make sure (only if it is still there: an ended
    # pid may already belong to another program).
    local gone=0
    for _ in $(seq 1 100); do
      if ! kill -0 "$child" 2>/dev/null; then gone=1; break; fi
      sleep 0.1
    done
    if [ "$gone" = 0 ]; then kill -KILL "$child" 2>/dev/null; fi
  fi
  rm -f "$pidfile"
  exit 0
}
trap stop TERM INT
delay=1
while :; do
  started=$(date +%s)
  "$@" >>"$logfile" 2>&1 &
  child=$!
  wait "$child"
  code=$?
  [ -n "$stopping" ] && break
  if [ $(( $(date +%s) - started )) -ge 60 ]; then delay=1; fi
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [supervise] exited with code $code; restarting in ${delay}s" >>"$logfile"
  sleep "$delay" &
  wait $!
  [ -n "$stopping" ] && break
  delay=$(( delay * 2 > 30 ? 30 : delay * 2 ))
done
