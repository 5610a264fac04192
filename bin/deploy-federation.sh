#!/usr/bin/env bash
# Deploy OpenClaw Federation on this machine, as the seed describes it.
#
#   bin/deploy-federation.sh master                 the brain: nats-server + coordinator (API on 8888)
#   bin/deploy-federation.sh worker <MASTER_IP>     the hands: a worker; stops this machine's own OpenClaw gateway
#   bin/deploy-federation.sh hybrid <MASTER_IP>     keeps the local gateway, adds a worker in ~/.openclaw-worker
#   bin/deploy-federation.sh uninstall [master|worker|hybrid]   stop and remove the services (state is kept)
#   bin/deploy-federation.sh status                 what is deployed here and whether it runs
#
# Options:
#   --ip IP             master: the address workers use (default: tailscale ip -4, else a LAN address)
#   --bind ADDR         master: listen only on this address (default 0.0.0.0: all; e.g. the Tailscale IP)
#   --no-tailscale      do not install or ask Tailscale (LAN, VPN or loopback setups)
#   --node-id ID        worker/hybrid: this node's id (default: from the host name)
#   --name NAME         worker/hybrid: display name
#   --label k=v         worker/hybrid: a label for selectors (repeatable)
#   --set key=value     any configuration key for this role, e.g. --set worker.max_concurrent_tasks=2
#                       (repeatable; written to the role's env file as OCF_SECTION_KEY)
#   --supervised        run the services under the built-in supervisor even where systemd runs
#   --systemd           require systemd units (fail when systemd is not available)
#   --purge             uninstall: also delete state (keys, identity, database). Irreversible.
#   --dry-run           show what would change; change nothing
#   -h, --help          this text
#
# Every run is idempotent: it checks each step, changes only what differs, and says so.
# Details and troubleshooting: docs/DEPLOYMENT.md
set -Eeuo pipefail
# A step that fails without its own message still says where (and nothing after it runs).
# shellcheck disable=SC2154
trap 'code=$?; [ "$BASH_SUBSHELL" -eq 0 ] && echo "deploy-federation.sh: unexpected failure (exit $code) at line $LINENO: $BASH_COMMAND; nothing after this step ran. Re-run with --dry-run to see the plan, or report it." >&2' ERR
OCF_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
export OCF_ROOT
# shellcheck source=../scripts/lib/runtime.sh
. "$OCF_ROOT/scripts/lib/runtime.sh"
# shellcheck source=../scripts/lib/deploy.sh
. "$OCF_ROOT/scripts/lib/deploy.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

ROLE=""
MASTER_IP=""
IP_OVERRIDE=""
BIND="0.0.0.0"
NO_TAILSCALE=0
NODE_ID=""
NODE_NAME=""
LABELS=()
SETS=()
SERVICE_WANTED="auto"
PURGE=0
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --no-tailscale) NO_TAILSCALE=1; shift ;;
    --supervised) SERVICE_WANTED=supervised; shift ;;
    --systemd) SERVICE_WANTED=systemd; shift ;;
    --purge) PURGE=1; shift ;;
    --ip|--bind|--node-id|--name|--label|--set)
      [ $# -ge 2 ] || { echo "deploy-federation.sh: $1 needs a value (see --help)" >&2; exit 2; }
      case "$1" in
        --ip) IP_OVERRIDE="$2" ;;
        --bind) BIND="$2" ;;
        --node-id) NODE_ID="$2" ;;
        --name) NODE_NAME="$2" ;;
        --label) LABELS+=("$2") ;;
        --set) SETS+=("$2") ;;
      esac
      shift 2 ;;
    --*) echo "deploy-federation.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
ROLE="${positional[0]:-}"
case "$ROLE" in
  master|status) [ "${#positional[@]}" -eq 1 ] || { echo "deploy-federation.sh $ROLE takes no other argument (see --help)" >&2; exit 2; } ;;
  worker|hybrid)
    MASTER_IP="${positional[1]:-}"
    [ -n "$MASTER_IP" ] || { echo "deploy-federation.sh $ROLE needs the master's IP: bin/deploy-federation.sh $ROLE <MASTER_IP> (the master printed it at the end of its deploy)" >&2; exit 2; }
    [ "${#positional[@]}" -eq 2 ] || { echo "deploy-federation.sh $ROLE takes one address (see --help)" >&2; exit 2; }
    [[ "$MASTER_IP" =~ ^[A-Za-z0-9.:_-]+$ ]] || { echo "deploy-federation.sh: \"$MASTER_IP\" is not an address" >&2; exit 2; } ;;
  uninstall) [ "${#positional[@]}" -le 2 ] || { echo "deploy-federation.sh uninstall [master|worker|hybrid]" >&2; exit 2; } ;;
  "") usage >&2; exit 2 ;;
  *) echo "deploy-federation.sh: unknown role \"$ROLE\": use master, worker, hybrid, uninstall or status (see --help)" >&2; exit 2 ;;
esac
[[ "$BIND" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "deploy-federation.sh: --bind must be an IPv4 address, not \"$BIND\"" >&2; exit 2; }
if [ -n "$IP_OVERRIDE" ] && ! [[ "$IP_OVERRIDE" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then echo "deploy-federation.sh: --ip must be an IPv4 address, not \"$IP_OVERRIDE\"" >&2; exit 2; fi
for label in "${LABELS[@]}"; do [[ "$label" =~ ^[A-Za-z0-9_.-]+=[^[:space:]]*$ ]] || { echo "deploy-federation.sh: --label \"$label\" is not key=value" >&2; exit 2; }; done
if [ -n "$NODE_ID" ] && ! [[ "$NODE_ID" =~ ^[a-z0-9][a-z0-9_.-]{0,62}$ ]]; then echo "deploy-federation.sh: --node-id \"$NODE_ID\" must be lower-case letters, digits, dot, dash, underscore (up to 63)" >&2; exit 2; fi

# Who the services run as: the user who ran this (through sudo too), with that user's home.
DEPLOY_USER="${SUDO_USER:-$(id -un)}"
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then DEPLOY_HOME="$(getent passwd "$SUDO_USER" | cut -d: -f6)"; else DEPLOY_HOME="$HOME"; fi
CONF_DIR="$DEPLOY_HOME/.config/openclaw-federation"
RUN_DIR="$CONF_DIR/run"
export DEPLOY_USER DEPLOY_HOME

# ---------------------------------------------------------------------------------------------
prepare_software() {
  local need_nats="$1"
  say "Software"
  if [ "$DRY_RUN" = 1 ]; then
    if ocf_use_runtime || { has node && [ "$(ocf_node_major node)" -ge "$OCF_NODE_MIN_MAJOR" ]; }; then ok "Node $(node -v)"; else changed "install Node 24 into $OCF_ROOT/.runtime/"; fi
    [ -f "$OCF_ROOT/node_modules/.ocf-lock-sum" ] && ok "npm dependencies" || changed "npm ci"
    [ -f "$OCF_ROOT/dist/.build-stamp" ] && ok "build" || changed "npm run build"
    if [ "$need_nats" = 1 ]; then { has nats-server || [ -x /usr/sbin/nats-server ]; } && ok "nats-server" || changed "apt-get install nats-server"; fi
    return 0
  fi
  OCF_CHANGED_DEPS=0 OCF_CHANGED_BUILD=0
  local had_runtime=0
  ocf_use_runtime && had_runtime=1
  ocf_ensure_node || die "could not get Node >= $OCF_NODE_MIN_MAJOR" "see the messages above; ./scripts/quick_start.sh explains the same setup"
  if [ "$had_runtime" = 0 ] && ocf_use_runtime; then changed "Node $(node -v) in .runtime/"; else ok "Node $(node -v)"; fi
  ocf_ensure_deps || die "npm dependencies could not be installed" "check the network (the npm registry) and run again"
  [ "$OCF_CHANGED_DEPS" = 1 ] && changed "npm dependencies installed" || ok "npm dependencies"
  ocf_ensure_build || die "the build failed" "run: npm run build, and read its errors"
  [ "$OCF_CHANGED_BUILD" = 1 ] && changed "built" || ok "build is current"
  if [ "$need_nats" = 1 ]; then
    if has nats-server || [ -x /usr/sbin/nats-server ] || [ -x /usr/bin/nats-server ]; then ok "nats-server"
    else
      ocf_ensure_nats || die "nats-server could not be installed" "run: sudo apt-get install -y nats-server"
      changed "nats-server installed"
    fi
  fi
}

# Env file for the role: the settings the services start with (also read by manage-federation.sh).
write_env() {
  local content="$1" effective
  ENV_CHANGED=0
  local lines=("$content")
  local pair
  for pair in "${SETS[@]}"; do lines+=("$(set_to_env "$pair")"); done
  content="$(printf '%s\n' "${lines[@]}")"
  say "Configuration"
  # Validate before anything starts: the same loader and messages as the services.
  local tmp
  tmp="$(mktemp)"
  printf '%s\n' "$content" > "$tmp"
  effective="$(ocf_with_env "$tmp" config check --show --json 2>&1)" || { rm -f "$tmp"; die "the configuration is invalid: ${effective#ocf: }" "fix the --set value or config/config.yaml and run again"; }
  rm -f "$tmp"
  check_set_keys "$effective" "${SETS[@]}"
  EFFECTIVE="$effective"
  if write_if_changed "$ENV_FILE" "$content" "settings"; then ENV_CHANGED=1; fi
}

service() {
  local name="$1" logname="$2"
  shift 2
  if [ "$SERVICE_MODE" = systemd ]; then
    systemd_service "$name" "$UNIT_TEXT"
  else
    supervised_service "$name" "$LOG_DIR/$logname.out" "$@"
  fi
}

wait_health() {
  local url="$1" body=""
  [ "$DRY_RUN" = 1 ] && return 0
  for _ in $(seq 1 60); do
    body="$(http_get "$url/health" 2>/dev/null)" && [ "$(printf '%s' "$body" | json_get nats.connected)" = true ] && return 0
    sleep 0.5
  done
  die "the coordinator did not become healthy at $url/health within 30 s" \
    "look at: $LOG_DIR/coordinator.log and $LOG_DIR/openclaw-coordinator.out (supervised) or journalctl -u openclaw-coordinator -e" \
    "is port ${COORD_PORT} taken by another program? (ss -ltnp | grep ${COORD_PORT})"
}

deploy_master() {
  say "== OpenClaw Federation: master on $(hostname) ($([ "$DRY_RUN" = 1 ] && echo "dry run" || echo "as $DEPLOY_USER"))"
  prepare_software 1
  say "Network"
  local ip=""
  if [ "$NO_TAILSCALE" = 0 ]; then ensure_tailscale; fi
  if [ -n "$IP_OVERRIDE" ]; then ip="$IP_OVERRIDE"; ok "address $ip (--ip)"
  elif [ "$NO_TAILSCALE" = 0 ] && ip="$(tailscale_ip)"; then ok "Tailscale address $ip"
  elif ip="$(lan_ip)"; then
    if [ "$NO_TAILSCALE" = 0 ]; then warn "no Tailscale address (is it logged in? sudo tailscale up); using the LAN address $ip: workers must reach it"; else ok "LAN address $ip"; fi
  else die "could not find an address for workers to reach" "pass --ip ADDRESS"; fi
  ENV_FILE="$CONF_DIR/master.env"
  local local_ip=127.0.0.1
  if [ "$BIND" != 0.0.0.0 ]; then local_ip="$BIND"
  else warn "listening on every address (0.0.0.0): 4222 and 8888 need a firewall on a machine with a public address (or --bind $ip)"; fi
  write_env "$(printf '%s\n' "# OpenClaw Federation master, written by bin/deploy-federation.sh; re-run it to change" \
    "OCF_DEPLOY_ROLE=master" "OCF_MASTER_IP=$ip" "OCF_COORDINATOR_HOST=$BIND" "OCF_COORDINATOR_PORT=8888" \
    "OCF_NATS_LISTEN_HOST=$BIND" "OCF_COMMUNICATION_NATS_URL=nats://$local_ip:4222")"
  LOG_DIR="$(printf '%s' "$EFFECTIVE" | json_get paths.log_dir)"
  COORD_PORT="$(printf '%s' "$EFFECTIVE" | json_get config.coordinator.port)"
  local state
  state="$(printf '%s' "$EFFECTIVE" | json_get paths.coordinator_state_dir)"
  SERVICE_MODE="$(pick_service_mode "$SERVICE_WANTED")"
  say "Services ($SERVICE_MODE)"
  UNIT_TEXT="$(render_unit "$OCF_ROOT/deploy/systemd/openclaw-nats.service")"
  service openclaw-nats nats-server "$OCF_ROOT/scripts/start_nats"
  # The coordinator needs NATS up: wait for its port before (re)starting it.
  if [ "$DRY_RUN" != 1 ]; then
    for _ in $(seq 1 50); do tcp_open "$local_ip" 4222 && break; sleep 0.2; done
    tcp_open "$local_ip" 4222 || die "nats-server did not start" "look at $LOG_DIR/nats-server.out (supervised) or journalctl -u openclaw-nats -e" "is port 4222 taken? (ss -ltnp | grep 4222)"
  fi
  UNIT_TEXT="$(render_unit "$OCF_ROOT/deploy/systemd/openclaw-coordinator.service")"
  service openclaw-coordinator coordinator "$OCF_ROOT/bin/ocf" coordinator
  wait_health "http://$local_ip:$COORD_PORT"
  [ "$DRY_RUN" = 1 ] || ok "coordinator healthy on http://$ip:$COORD_PORT (nats connected)"

  say "OpenClaw"
  local marker="$CONF_DIR/openclaw-plugin.installed"
  if ! has openclaw; then ok "no local OpenClaw found (openclaw not on PATH); connect it later with: bin/ocf openclaw install --mcp"
  elif [ -f "$marker" ]; then ok "fleet tools already installed into the local OpenClaw ($(cat "$marker"))"
  else
    changed "install the fleet tools into the local OpenClaw (plugin + MCP server, exec-scope token)"
    if [ "$DRY_RUN" != 1 ]; then
      ocf_with_env "$ENV_FILE" openclaw install --mcp || die "could not install the fleet tools into OpenClaw" "run: bin/ocf openclaw install --mcp, and read its message"
      date -u +%Y-%m-%dT%H:%M:%SZ > "$marker"
    fi
  fi

  finish
  say ""
  say "Admin token: $state/admin.token (mode 0600; bin/manage-federation.sh and bin/ocf on this machine find it)"
  say "Manage the fleet: bin/manage-federation.sh pending | approve <ID> | list | exec <node> \"cmd\" | broadcast \"cmd\""
  say ""
  say "Master IP: $ip"
  say "On each worker machine, in its copy of this repository, run:"
  say "  bin/deploy-federation.sh worker $ip"
  say "  (or: bin/deploy-federation.sh hybrid $ip   to keep that machine's own OpenClaw gateway)"
}

check_master() {
  local ip="$1" body
  say "Master $ip"
  [ "$DRY_RUN" = 1 ] && { ok "(dry run: not contacting the master)"; return 0; }
  if ! tcp_open "$ip" 8888; then
    die "cannot reach the master's API at $ip:8888" \
      "is the master deployed and running? on it: bin/deploy-federation.sh status" \
      "are both machines on the tailnet? tailscale status (both must show as connected)" \
      "does a firewall block TCP 8888 and 4222 on the master? (ufw allow in on tailscale0)"
  fi
  body="$(http_get "http://$ip:8888/health")" || true
  [ -n "$(printf '%s' "$body" | json_get status 2>/dev/null)" ] || die "$ip:8888 answers, but not as an OpenClaw Federation coordinator" "check the address the master printed"
  ok "coordinator at http://$ip:8888 ($(printf '%s' "$body" | json_get status))"
  tcp_open "$ip" 4222 || die "the master's API answers but NATS on $ip:4222 does not" "on the master: bin/deploy-federation.sh status; a firewall must allow TCP 4222 too"
  ok "NATS at $ip:4222"
}

prepare_hybrid_dir() {
  local dir="$1" owner mode
  say "Isolated worker state ($dir)"
  if [ ! -e "$dir" ]; then
    changed "create $dir (mode 0700)"
    act mkdir -p "$dir"
    act chmod 700 "$dir"
    if is_root && [ "$DEPLOY_USER" != root ]; then act chown "$DEPLOY_USER:" "$dir"; fi
    return 0
  fi
  [ -d "$dir" ] || die "$dir exists but is not a folder" "move it away and run again"
  owner="$(stat -c %U "$dir")"
  if [ "$owner" != "$DEPLOY_USER" ]; then
    if is_root; then
      changed "give $dir (owned by $owner) to $DEPLOY_USER"
      act chown -R "$DEPLOY_USER:" "$dir"
    else
      die "$dir belongs to $owner, so the worker (running as $DEPLOY_USER) cannot use it" "fix it with: sudo chown -R $DEPLOY_USER: $dir   then run this again"
    fi
  else ok "$dir belongs to $DEPLOY_USER"; fi
  mode="$(stat -c %a "$dir")"
  if [ "$mode" != 700 ]; then
    changed "$dir mode $mode → 700 (it holds the node's private key)"
    act chmod 700 "$dir"
  else ok "$dir mode 700"; fi
}

deploy_worker() {
  local role="$1"
  say "== OpenClaw Federation: $role on $(hostname), master $MASTER_IP ($([ "$DRY_RUN" = 1 ] && echo "dry run" || echo "as $DEPLOY_USER"))"
  prepare_software 0
  say "Network"
  if [ "$NO_TAILSCALE" = 0 ]; then
    ensure_tailscale
    local own
    if own="$(tailscale_ip)"; then ok "this machine's Tailscale address: $own"; else warn "Tailscale is not connected here (sudo tailscale up); going on with whatever route reaches $MASTER_IP"; fi
  fi
  check_master "$MASTER_IP"

  say "Local OpenClaw gateway"
  if [ "$role" = worker ]; then stop_local_gateway
  else
    local pids
    pids="$(gateway_pids | tr '\n' ' ' | sed 's/ $//')"
    if [ -n "$pids" ]; then ok "keeping the local gateway (pid $pids): hybrid"; else ok "no local gateway runs now; hybrid leaves it alone either way"; fi
  fi

  local state_line=""
  if [ "$role" = hybrid ]; then
    prepare_hybrid_dir "$DEPLOY_HOME/.openclaw-worker"
    state_line="OCF_WORKER_STATE_DIR=$DEPLOY_HOME/.openclaw-worker"
  fi
  ENV_FILE="$CONF_DIR/worker.env"
  write_env "$(printf '%s\n' "# OpenClaw Federation $role, written by bin/deploy-federation.sh; re-run it to change" \
    "OCF_DEPLOY_ROLE=$role" "OCF_MASTER_IP=$MASTER_IP" "OCF_COMMUNICATION_NATS_URL=nats://$MASTER_IP:4222" \
    "OCF_COMMUNICATION_COORDINATOR_URL=http://$MASTER_IP:8888" ${state_line:+"$state_line"})"
  LOG_DIR="$(printf '%s' "$EFFECTIVE" | json_get paths.log_dir)"
  local state args=()
  state="$(printf '%s' "$EFFECTIVE" | json_get paths.worker_state_dir)"
  [ -n "$NODE_ID" ] && args+=(--node-id "$NODE_ID")
  [ -n "$NODE_NAME" ] && args+=(--name "$NODE_NAME")
  local label
  for label in "${LABELS[@]}"; do args+=(--label "$label"); done

  SERVICE_MODE="$(pick_service_mode "$SERVICE_WANTED")"
  say "Service ($SERVICE_MODE)"
  local unit_node="${NODE_ID:-}" unit_args=""
  if [ -z "$unit_node" ]; then unit_node="$(hostname -s | tr 'A-Z' 'a-z' | sed 's/[^a-z0-9_.-]/-/g; s/^[^a-z0-9]*//' | cut -c1-63)"; fi
  [ -n "$NODE_NAME" ] && unit_args+="--name '$NODE_NAME' "
  for label in "${LABELS[@]}"; do unit_args+="--label $label "; done
  UNIT_TEXT="$(render_unit "$OCF_ROOT/deploy/systemd/openclaw-worker.service" "$unit_node" "$unit_args")"
  [ -z "$NODE_ID" ] && args=(--node-id "$unit_node" "${args[@]}")
  service openclaw-worker worker "$OCF_ROOT/bin/ocf" worker "${args[@]}"

  finish
  [ "$DRY_RUN" = 1 ] && return 0
  # The worker asks to join at start: report what the coordinator said.
  local st="" node="" request=""
  for _ in $(seq 1 60); do
    if [ -f "$state/node.json" ]; then
      st="$(json_get state < "$state/node.json")"
      node="$(json_get node_id < "$state/node.json")"
      request="$(json_get request_id < "$state/node.json")"
      case "$st" in pending) [ -n "$request" ] && break ;; approved|rejected|removed) break ;; esac
    fi
    sleep 0.5
  done
  say ""
  case "$st" in
    approved) say "Node $node is approved and connected to $MASTER_IP." ;;
    pending)
      say "Node $node asked to join (request $request)."
      say "On the master, approve it:  bin/manage-federation.sh approve $request"
      say "                        or: bin/auto-register.sh --watch   (approves every new worker)" ;;
    rejected|removed) die "the master refused node $node ($st)" "an admin rejected or removed it; on the master: bin/manage-federation.sh pending, or remove it and run this again" ;;
    *) die "the worker did not report back within 30 s" "look at: $LOG_DIR/worker.log and $LOG_DIR/worker.out (supervised) or journalctl -u openclaw-worker -e" ;;
  esac
  say "Logs: $LOG_DIR/worker.log$([ "$SERVICE_MODE" = systemd ] && echo "; sudo journalctl -u openclaw-worker -f")"
}

finish() {
  if [ "$DEPLOY_CHANGES" -eq 0 ]; then say "Nothing changed: already deployed as asked."
  elif [ "$DRY_RUN" = 1 ]; then say "Dry run: $DEPLOY_CHANGES change(s) would be made; nothing was changed."
  else say "Done: $DEPLOY_CHANGES change(s)."; fi
}

roles_here() {
  [ -f "$CONF_DIR/master.env" ] && echo master
  [ -f "$CONF_DIR/worker.env" ] && sed -n 's/^OCF_DEPLOY_ROLE=//p' "$CONF_DIR/worker.env"
  return 0
}

remove_service() {
  local name="$1"
  if [ -f "/etc/systemd/system/$name.service" ]; then systemd_remove "$name"; fi
  if supervisor_pid "$name" >/dev/null; then
    changed "stop $name (supervised)"
    supervised_stop "$name" || true
  fi
  return 0
}

uninstall() {
  local wanted="${positional[1]:-}" roles role
  case "$wanted" in ""|master|worker|hybrid) ;; *) echo "deploy-federation.sh uninstall [master|worker|hybrid]" >&2; exit 2 ;; esac
  roles="$(roles_here)"
  say "== OpenClaw Federation: uninstall on $(hostname)"
  [ -n "$roles" ] || { say "Nothing deployed here (no $CONF_DIR/*.env)."; finish; return 0; }
  for role in $roles; do
    [ -n "$wanted" ] && [ "$wanted" != "$role" ] && continue
    say "$role"
    if [ "$role" = master ]; then
      remove_service openclaw-coordinator
      remove_service openclaw-nats
      ENV_FILE="$CONF_DIR/master.env"
    else
      remove_service openclaw-worker
      ENV_FILE="$CONF_DIR/worker.env"
    fi
    if [ "$PURGE" = 1 ]; then
      local paths dir
      paths="$(ocf_with_env "$ENV_FILE" config check --json)"
      for dir in $([ "$role" = master ] && printf '%s' "$paths" | json_get paths.coordinator_state_dir) $([ "$role" != master ] && printf '%s' "$paths" | json_get paths.worker_state_dir) $([ "$role" = master ] && printf '%s' "$paths" | json_get paths.storage); do
        [ -e "$dir" ] || continue
        changed "delete $dir (--purge)"
        act rm -rf "$dir"
      done
    fi
    changed "remove settings $ENV_FILE"
    act rm -f "$ENV_FILE"
  done
  finish
  [ "$PURGE" = 1 ] || say "State (keys, node identity, database) is kept; --purge deletes it."
}

status() {
  local roles role name pid
  roles="$(roles_here)"
  say "OpenClaw Federation on $(hostname): ${roles:-nothing deployed}" | tr '\n' ' '
  echo
  for role in $roles; do
    for name in $([ "$role" = master ] && echo "openclaw-nats openclaw-coordinator" || echo openclaw-worker); do
      if [ -f "/etc/systemd/system/$name.service" ]; then
        say "  $name: systemd, $(systemctl is-active "$name" 2>/dev/null || true)"
      elif pid="$(supervisor_pid "$name")"; then say "  $name: supervised, running (supervisor pid $pid)"
      else say "  $name: NOT running"; fi
    done
  done
}

case "$ROLE" in
  master) deploy_master ;;
  worker|hybrid) deploy_worker "$ROLE" ;;
  uninstall) uninstall ;;
  status) status ;;
esac
