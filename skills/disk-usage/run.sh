#!/bin/sh
# disk-usage: df for the filesystem holding $OCF_PARAM_PATH, then its largest subfolders.
set -u
path="${OCF_PARAM_PATH:-/}"
top="${OCF_PARAM_TOP:-5}"
if [ ! -d "$path" ]; then
  echo "disk-usage: $path is not a folder on $(hostname)" >&2
  exit 2
fi
df -h -- "$path"
if [ "$top" -gt 0 ]; then
  echo
  echo "largest folders in $path:"
  # -x: stay on this filesystem; errors (permission denied) are not the answer; the line for the
  # folder itself (its total) is left out.
  du -x -h -d 1 -- "$path" 2>/dev/null | awk -F '\t' -v self="$path" '$2 != self' | sort -rh | head -n "$top"
fi
