#!/bin/sh
# service-status: whether a system service runs, told by its state, PIDs and process names only.
# With systemd: a few properties of the unit (systemctl show with a fixed list: never its command
# line, environment or process tree, which `systemctl status` prints and which can hold secrets)
# and, only when asked for with lines > 0, the unit's last journal lines. Without systemd: the PID
# and name of each process with that name, never its arguments (pgrep -a would print them all).
# Exit 0 when it runs, 3 when it does not, 4 when systemd knows no such unit.
set -u
service="$OCF_PARAM_SERVICE"
lines="${OCF_PARAM_LINES:-0}"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  if ! props="$(systemctl show --no-pager --property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID,ActiveEnterTimestamp,Result,NRestarts -- "$service" 2>&1)"; then
    printf 'service-status: systemd could not tell about %s: %s\n' "$service" "$props" >&2
    exit 4
  fi
  printf '%s\n' "$props"
  if [ "$(printf '%s\n' "$props" | sed -n 's/^LoadState=//p')" = not-found ]; then
    echo "$service: no such unit"
    exit 4
  fi
  main="$(printf '%s\n' "$props" | sed -n 's/^MainPID=//p')"
  if [ -n "$main" ] && [ "$main" != 0 ] && [ -r "/proc/$main/comm" ]; then
    echo "main process: $main $(cat "/proc/$main/comm")"
  fi
  if [ "$lines" -gt 0 ]; then
    echo
    echo "last $lines journal lines of $service (what the service itself logged):"
    journalctl --no-pager --quiet --lines="$lines" --unit="$service" 2>&1
  fi
  [ "$(printf '%s\n' "$props" | sed -n 's/^ActiveState=//p')" = active ] && exit 0
  exit 3
fi
echo "systemd is not running here; looking for a process named $service (PID and name only)"
if command -v pgrep >/dev/null 2>&1; then
  # -x matches the whole process name (pgrep reads it as a pattern: the dots are made literal);
  # -l prints PID and name. Never -a or -f: they print or search every argument.
  literal="$(printf '%s' "$service" | sed 's/[.]/\\./g')"
  if pgrep -l -x -- "$literal"; then exit 0; fi
else
  found=0
  for comm in /proc/[0-9]*/comm; do
    if [ "$(cat "$comm" 2>/dev/null)" = "$service" ]; then
      pid="${comm#/proc/}"; echo "${pid%/comm} $service"; found=1
    fi
  done
  [ "$found" -eq 1 ] && exit 0
fi
echo "$service is not running"
exit 3
