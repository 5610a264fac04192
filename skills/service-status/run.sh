#!/bin/sh
# service-status: systemctl status and the journal's last lines for $OCF_PARAM_SERVICE; without
# systemd, whether a process of that name runs. Exit 0 when it runs, 3 when it does not.
set -u
service="$OCF_PARAM_SERVICE"
lines="${OCF_PARAM_LINES:-10}"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl status --no-pager --lines="$lines" -- "$service"
  exit $?
fi
echo "systemd is not running here; looking for a process named $service"
if command -v pgrep >/dev/null 2>&1; then
  if pgrep -a -x -- "$service"; then exit 0; fi
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
