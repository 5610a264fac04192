# shellcheck shell=bash
# Helpers for bin/deploy-federation.sh: step reporting (what changed, what already was), dry runs,
# env files, services under systemd or the supervisor, reachability checks, the local OpenClaw
# gateway. Source after scripts/lib/runtime.sh.

DEPLOY_CHANGES=0
DRY_RUN="${DRY_RUN:-0}"

say() { printf '%s\n' "$*"; }
ok() { printf '  ok       %s\n' "$*"; }
changed() {
  DEPLOY_CHANGES=$((DEPLOY_CHANGES + 1))
  if [ "$DRY_RUN" = 1 ]; then printf '  would    %s\n' "$*"; else printf '  changed  %s\n' "$*"; fi
}
warn() { printf '  WARNING  %s\n' "$*" >&2; }
die() {
  printf '\nERROR: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}
# Run a command that changes the machine (printed instead under --dry-run).
act() {
  if [ "$DRY_RUN" = 1 ]; then printf '           $ %s\n' "$*"; return 0; fi
  "$@"
}

is_root() { [ "$(id -u)" -eq 0 ]; }
has() { command -v "$1" >/dev/null 2>&1; }

# Print one field (dotted path) of the JSON on stdin.
json_get() {
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let v=JSON.parse(s);for(const k of process.argv[1].split("."))v=v==null?undefined:v[k];process.stdout.write(v==null?"":typeof v==="object"?JSON.stringify(v):String(v))})' "$1"
}

# Write FILE (mode 0600) only when its content differs; report which.
write_if_changed() {
  local file="$1" content="$2" what="$3"
  if [ -f "$file" ] && [ "$(cat "$file")" = "$content" ]; then
    ok "$what unchanged ($file)"
    return 1
  fi
  changed "$what: $file"
  if [ "$DRY_RUN" != 1 ]; then
    mkdir -p "$(dirname "$file")"
    (umask 077 && printf '%s\n' "$content" > "$file.tmp.$$") && mv -f "$file.tmp.$$" "$file"
  fi
  return 0
}

# --set section.key=value → OCF_SECTION_KEY=value (the config loader's environment overrides).
set_to_env() {
  local pair="$1" key value section name
  key="${pair%%=*}"
  value="${pair#*=}"
  [[ "$pair" == *=* && "$key" =~ ^[a-z_]+\.[a-z_]+$ ]] || die "--set \"$pair\" is not section.key=value" "e.g. --set coordinator.heartbeat_timeout=30 (keys: config/config.yaml, docs/DEPLOYMENT.md)"
  section="${key%%.*}"
  name="${key#*.}"
  printf 'OCF_%s_%s=%s' "${section^^}" "${name^^}" "$value"
}

# Check every --set key exists in the configuration (an unknown OCF_* variable would be ignored).
check_set_keys() {
  local effective="$1"
  shift
  local pair key
  for pair in "$@"; do
    key="${pair%%=*}"
    [ -n "$(printf '%s' "$effective" | json_get "config.$key")" ] || die "--set $key: there is no such configuration key" "see config/config.yaml and docs/DEPLOYMENT.md for the keys"
  done
}

# Run `ocf` with an env file loaded (as the services will see it).
ocf_with_env() {
  local envfile="$1"
  shift
  (
    set -a
    # shellcheck disable=SC1090
    [ -f "$envfile" ] && . "$envfile"
    set +a
    "$OCF_ROOT/bin/ocf" "$@"
  )
}

# --- Tailscale -----------------------------------------------------------------------------
ensure_tailscale() {
  if has tailscale; then
    ok "tailscale is installed"
    return 0
  fi
  changed "install Tailscale (official install script: https://tailscale.com/install.sh)"
  [ "$DRY_RUN" = 1 ] && return 0
  has curl || die "Tailscale is not installed and curl is missing to fetch its installer" "install it yourself (https://tailscale.com/download), or pass --no-tailscale"
  local sudo=""
  is_root || sudo="sudo"
  curl -fsSL https://tailscale.com/install.sh | $sudo sh || die "the Tailscale installer failed" "install it yourself (https://tailscale.com/download), or pass --no-tailscale"
  warn "Tailscale is installed but not logged in: run  sudo tailscale up  and then run this command again"
}

tailscale_ip() {
  has tailscale || return 1
  local ip
  ip="$(tailscale ip -4 2>/dev/null | head -n 1)"
  [[ "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || return 1
  printf '%s' "$ip"
}

lan_ip() {
  local ip
  ip="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit }}')"
  [ -n "$ip" ] || ip="$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -n 1)"
  [ -n "$ip" ] || return 1
  printf '%s' "$ip"
}

# --- reachability --------------------------------------------------------------------------
tcp_open() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

http_get() {
  node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(4000)}).then(async r=>{process.stdout.write(await r.text());process.exit(r.ok?0:1)}).catch(()=>process.exit(2))' "$1"
}

# --- services -------------------------------------------------------------------------------
# systemd when it runs and we may write units (root, or sudo without a password); else supervised.
pick_service_mode() {
  local wanted="$1"
  if [ "$wanted" = supervised ]; then echo supervised; return; fi
  if [ -d /run/systemd/system ] && has systemctl && { is_root || sudo -n true 2>/dev/null; }; then echo systemd; return; fi
  [ "$wanted" = systemd ] && die "--systemd: systemd is not running here, or this user may not write units (run with sudo)"
  echo supervised
}

SUDO_CMD() { if is_root; then "$@"; else sudo "$@"; fi; }

# Render a unit template with the placeholders replaced.
render_unit() {
  local template="$1" node_id="${2:-}" worker_args="${3:-}"
  sed -e "s|@ROOT@|$OCF_ROOT|g" -e "s|@USER@|$DEPLOY_USER|g" -e "s|@HOME@|$DEPLOY_HOME|g" \
    -e "s|@ENVFILE@|$ENV_FILE|g" -e "s|@NODE_ID@|$node_id|g" -e "s|@WORKER_ARGS@|$worker_args|g" "$template"
}

# systemd_service NAME UNIT_TEXT: install or update the unit, enable it, (re)start it when needed.
systemd_service() {
  local name="$1" text="$2" path="/etc/systemd/system/$1.service" restart=0
  if [ -f "$path" ] && [ "$(cat "$path")" = "$text" ]; then
    ok "unit $name unchanged"
  else
    changed "unit $path"
    if [ "$DRY_RUN" != 1 ]; then
      printf '%s\n' "$text" | SUDO_CMD tee "$path" >/dev/null
      SUDO_CMD systemctl daemon-reload
    fi
    restart=1
  fi
  if [ "$restart" = 0 ] && [ "${ENV_CHANGED:-0}" = 1 ]; then restart=1; fi
  if ! systemctl is-enabled --quiet "$name" 2>/dev/null; then
    changed "enable $name at boot"
    act SUDO_CMD systemctl enable "$name" >/dev/null 2>&1
  fi
  if ! systemctl is-active --quiet "$name"; then
    changed "start $name"
    act SUDO_CMD systemctl start "$name"
  elif [ "$restart" = 1 ]; then
    changed "restart $name (its unit or configuration changed)"
    act SUDO_CMD systemctl restart "$name"
  else
    ok "$name is running"
  fi
}

systemd_remove() {
  local name="$1" path="/etc/systemd/system/$1.service"
  [ -f "$path" ] || return 0
  changed "stop and remove $name"
  act SUDO_CMD systemctl disable --now "$name" >/dev/null 2>&1 || true
  act SUDO_CMD rm -f "$path"
  act SUDO_CMD systemctl daemon-reload
}

supervisor_pid() {
  local pidfile="$RUN_DIR/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

supervised_stop() {
  local name="$1" pid
  pid="$(supervisor_pid "$name")" || { rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.spec"; return 1; }
  act kill -TERM "$pid"
  if [ "$DRY_RUN" != 1 ]; then
    local gone=0
    for _ in $(seq 1 150); do
      if ! kill -0 "$pid" 2>/dev/null; then gone=1; break; fi
      sleep 0.1
    done
    # Only a supervisor that is still there: a pid that ended may already belong to another program.
    if [ "$gone" = 0 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.spec"
  fi
  return 0
}

# supervised_service NAME LOGFILE COMMAND...: keep COMMAND running under scripts/lib/supervise.sh
# with the env file loaded; restart it when the command or the env file changed.
supervised_service() {
  local name="$1" logfile="$2"
  shift 2
  local spec pid
  spec="$* | env $({ sha256sum "$ENV_FILE" 2>/dev/null || echo none; } | cut -c1-16)"
  if pid="$(supervisor_pid "$name")"; then
    if [ "$(cat "$RUN_DIR/$name.spec" 2>/dev/null)" = "$spec" ]; then
      ok "$name is running (supervisor pid $pid)"
      return 0
    fi
    changed "restart $name (its command or configuration changed)"
    supervised_stop "$name" >/dev/null || true
  else
    changed "start $name (supervised: restarted when it exits; logs in $logfile)"
  fi
  [ "$DRY_RUN" = 1 ] && return 0
  mkdir -p "$RUN_DIR" "$(dirname "$logfile")"
  printf '%s' "$spec" > "$RUN_DIR/$name.spec"
  # setsid: the service outlives this shell and has its own process group.
  OCF_LOG_CONSOLE=none setsid "$OCF_ROOT/scripts/lib/supervise.sh" "$RUN_DIR/$name.pid" "$logfile" -- \
    bash -c 'set -a; . "$0"; set +a; exec "$@"' "$ENV_FILE" "$@" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 50); do [ -f "$RUN_DIR/$name.pid" ] && break; sleep 0.1; done
}

# --- the local OpenClaw gateway ---------------------------------------------------------------
# Gateway processes of this user (this HOME): `openclaw gateway run` or one titled openclaw-gateway.
gateway_pids() {
  local pid home
  for pid in $(pgrep -f -- '(^|/| )openclaw-gateway( |$)|openclaw(\.mjs)? gateway( run)?( |$)' 2>/dev/null); do
    [ "$pid" = "$$" ] && continue
    home="$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^HOME=//p' | head -n 1)"
    if [ "$home" = "$DEPLOY_HOME" ]; then printf '%s\n' "$pid"; fi
  done
  return 0
}

gateway_units() {
  if has systemctl && [ -d /run/systemd/system ]; then
    systemctl list-unit-files 'openclaw-gateway*.service' --no-legend 2>/dev/null | awk '{print $1}'
  fi
  return 0
}

stop_local_gateway() {
  local pids units unit
  units="$(gateway_units)"
  pids="$(gateway_pids)"
  if [ -z "$units" ] && [ -z "$pids" ]; then
    ok "no local OpenClaw gateway runs here"
    return 0
  fi
  for unit in $units; do
    if systemctl is-active --quiet "$unit" || systemctl is-enabled --quiet "$unit" 2>/dev/null; then
      changed "stop and disable the local OpenClaw gateway ($unit): this machine is a worker now"
      act SUDO_CMD systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
  done
  if [ -n "$pids" ] && has openclaw; then act openclaw gateway stop >/dev/null 2>&1 || true; fi
  pids="$(gateway_pids)"
  [ -z "$pids" ] && return 0
  changed "stop the local OpenClaw gateway (pid $(echo "$pids" | tr '\n' ' ' | sed 's/ $//')): this machine is a worker now (use hybrid to keep it)"
  [ "$DRY_RUN" = 1 ] && return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 1 50); do [ -z "$(gateway_pids)" ] && return 0; sleep 0.1; done
  # shellcheck disable=SC2046
  kill -KILL $(gateway_pids) 2>/dev/null || true
}
