#!/usr/bin/env bash
# Every transferline service as its own OS process, against the real Kafka and MinIO that `make infra-up` started
# (var/infra/infra.env), with the settings every deployment gives them (deploy/stack.env): collect, convert,
# records, train, two downloaders and the gateway under gunicorn. `make stack-local` / `make stack-local-down`.
#
#   deploy/local/stack.sh up       `transferline init` (bucket + topics), then start each service that is not
#                                  running yet and wait until every /readyz answers; no-op for running ones
#   deploy/local/stack.sh down     stop every service (SIGTERM, wait, SIGKILL; the trainer gets longer: it
#                                  writes a checkpoint to the store on SIGTERM)
#   deploy/local/stack.sh status   one line per service; exit 1 unless all of them run
#
# Settings, lowest first: deploy/stack.env, then var/infra/infra.env, then the caller's environment: a variable
# set when calling wins (TRANSFERLINE_BUCKET, TRANSFERLINE_API_TOKEN, TRANSFERLINE_GATEWAY_PORT,
# TRANSFERLINE_DOWNLOAD_ALLOW_NETWORKS, ...) and reaches every service. Each service gets its own /healthz,
# /readyz, /metrics port, TRANSFERLINE_HTTP_PORT + its index (collect +0, convert +1, records +2, train +3,
# download-1 +4, download-2 +5, ...), and its own data folder (TRANSFERLINE_DATA_DIR, as a container has).
#
# State, under ${TRANSFERLINE_STACK_DIR:-var/stack}: <name>.pid, <name>.log, <name>/ (its data folder), init.log,
# api-token (generated once, mode 600, unless TRANSFERLINE_API_TOKEN is given).
# Knobs: TRANSFERLINE_STACK_DOWNLOADERS (2), TRANSFERLINE_STACK_READY_TIMEOUT (180 s),
# TRANSFERLINE_STOP_TIMEOUT (30 s), TRANSFERLINE_STACK_TRAIN_STOP_TIMEOUT (120 s), TRANSFERLINE_CLI.
set -euo pipefail

LOG_TAG=stack
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STACK_DIR="${TRANSFERLINE_STACK_DIR:-$REPO_ROOT/var/stack}"
STACK_ENV="$REPO_ROOT/deploy/stack.env"
INFRA_ENV="$INFRA_DIR/infra.env"
CLI="${TRANSFERLINE_CLI:-$REPO_ROOT/.venv/bin/transferline}"
DOWNLOADERS="${TRANSFERLINE_STACK_DOWNLOADERS:-2}"
READY_TIMEOUT="${TRANSFERLINE_STACK_READY_TIMEOUT:-180}"
TRAIN_STOP_TIMEOUT="${TRANSFERLINE_STACK_TRAIN_STOP_TIMEOUT:-120}"
STAGES=(collect convert records train) # then download-1..N, then the gateway

# Every service of this stack, in start order; the HTTP port of a stage service is the base + its index here.
service_names() {
  local i
  printf '%s\n' "${STAGES[@]}"
  for ((i = 1; i <= DOWNLOADERS; i++)); do printf 'download-%d\n' "$i"; done
  printf 'gateway\n'
}

# download-2 -> download; the gateway is not a stage.
stage_of() { printf '%s\n' "${1%-[0-9]*}"; }

pidfile_of() { printf '%s/%s.pid\n' "$STACK_DIR" "$1"; }
logfile_of() { printf '%s/%s.log\n' "$STACK_DIR" "$1"; }

# Found in the process's command line, so a reused pid is not taken for ours.
marker_of() {
  if [[ "$1" == gateway ]]; then
    printf '%s\n' "$CLI gateway"
  else
    printf '%s\n' "$CLI serve $(stage_of "$1")"
  fi
}

# KEY=VALUE lines of FILE exported unless the variable is set already (the caller's environment wins).
# The file is parsed, never sourced.
export_defaults() {
  local file="$1" line key value
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
    key="${BASH_REMATCH[1]}" value="${BASH_REMATCH[2]}"
    [[ -n "${!key+set}" ]] || export "$key=$value"
  done <"$file"
}

load_settings() {
  [[ -f "$INFRA_ENV" ]] || die "no $INFRA_ENV: start Kafka and MinIO first (make infra-up)"
  [[ -f "$STACK_ENV" ]] || die "no $STACK_ENV"
  export_defaults "$INFRA_ENV"
  export_defaults "$STACK_ENV"
  export TRANSFERLINE_HTTP_HOST="${TRANSFERLINE_HTTP_HOST:-127.0.0.1}" # a development machine: loopback only
  export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
  [[ "${TRANSFERLINE_HTTP_PORT:-}" =~ ^[1-9][0-9]*$ ]] ||
    die "TRANSFERLINE_HTTP_PORT must be a port number (the first service's; the others take the next ones)"
  [[ "${TRANSFERLINE_GATEWAY_PORT:-}" =~ ^[1-9][0-9]*$ ]] || die "TRANSFERLINE_GATEWAY_PORT must be a port number"
  [[ "$DOWNLOADERS" =~ ^[1-9][0-9]?$ ]] || die "TRANSFERLINE_STACK_DOWNLOADERS must be 1-99"
}

# The address probes reach a service on (it may listen on every interface).
probe_host() {
  if [[ "$TRANSFERLINE_HTTP_HOST" == 0.0.0.0 || "$TRANSFERLINE_HTTP_HOST" == "::" ]]; then
    printf '127.0.0.1\n'
  else
    printf '%s\n' "$TRANSFERLINE_HTTP_HOST"
  fi
}

port_of() {
  local name="$1" i=0 each
  if [[ "$name" == gateway ]]; then
    printf '%s\n' "$TRANSFERLINE_GATEWAY_PORT"
    return 0
  fi
  while IFS= read -r each; do
    if [[ "$each" == "$name" ]]; then
      printf '%s\n' "$((TRANSFERLINE_HTTP_PORT + i))"
      return 0
    fi
    i=$((i + 1))
  done < <(service_names)
  die "unknown service $name"
}

ready() {
  local url
  url="http://$(probe_host):$1/readyz"
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url")" == 200 ]]
}

# The gateway refuses to start on Kafka/S3 without a token: the caller's, else one kept in the stack folder.
ensure_token() {
  TOKEN_HINT='TRANSFERLINE_API_TOKEN, as given'
  [[ -n "${TRANSFERLINE_API_TOKEN:-}" ]] && return 0
  local file="$STACK_DIR/api-token" tmp
  if [[ ! -s "$file" ]]; then
    tmp="$file.tmp"
    (
      umask 077
      LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 >"$tmp" || true
    )
    mv "$tmp" "$file"
    log "generated the gateway's API token in $file"
  fi
  TRANSFERLINE_API_TOKEN="$(<"$file")"
  export TRANSFERLINE_API_TOKEN
  TOKEN_HINT="in $file"
}

# Serialise up/down on one stack folder. fd 9, like lib.sh's infra lock: start_detached closes it, so the
# services do not hold the lock for their whole life.
take_stack_lock() {
  mkdir -p "$STACK_DIR"
  exec 9>"$STACK_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 300 9 || die "timed out waiting for lock $STACK_DIR/.lock"
  fi
}

run_init() {
  local out="$STACK_DIR/init.log"
  log "transferline init (bucket $TRANSFERLINE_BUCKET, topics on $TRANSFERLINE_KAFKA_BOOTSTRAP)"
  if ! TRANSFERLINE_DATA_DIR="$STACK_DIR/init" "$CLI" init >"$out" 2>&1; then
    show_logs "$out"
    die "transferline init failed (log: $out)"
  fi
}

start_service() {
  local name="$1" pidfile logfile port pid
  pidfile="$(pidfile_of "$name")" logfile="$(logfile_of "$name")" port="$(port_of "$name")"
  if pid="$(running_pid "$pidfile" "$(marker_of "$name")")"; then
    log "$name already running (pid $pid)"
    return 0
  fi
  mkdir -p "$STACK_DIR/$name"
  if [[ "$name" == gateway ]]; then
    TRANSFERLINE_DATA_DIR="$STACK_DIR/$name" \
      start_detached "$pidfile" "$logfile" "$CLI" gateway --port "$port" --workers "${TRANSFERLINE_GATEWAY_WORKERS:-2}"
  else
    TRANSFERLINE_DATA_DIR="$STACK_DIR/$name" TRANSFERLINE_HTTP_PORT="$port" \
      start_detached "$pidfile" "$logfile" "$CLI" serve "$(stage_of "$name")"
  fi
  log "started $name (pid $(<"$pidfile"), port $port, log $logfile)"
}

stop_hint() {
  if [[ "$STACK_DIR" == "$REPO_ROOT/var/stack" ]]; then
    printf 'make stack-local-down\n'
  else
    printf 'TRANSFERLINE_STACK_DIR=%s bash %s down\n' "$STACK_DIR" "$DEPLOY_DIR/stack.sh"
  fi
}

# Every service's /readyz within one deadline; the first that exits or stays unready fails `up`, named with its log.
wait_all_ready() {
  local start=$SECONDS name port
  local -a waiting pending
  mapfile -t waiting < <(service_names)
  while ((${#waiting[@]})); do
    pending=()
    for name in "${waiting[@]}"; do
      port="$(port_of "$name")"
      if ! running_pid "$(pidfile_of "$name")" "$(marker_of "$name")" >/dev/null; then
        show_logs "$(logfile_of "$name")"
        die "$name exited during start-up (log: $(logfile_of "$name")); the others still run: $(stop_hint)"
      fi
      if ready "$port"; then
        log "$name ready on port $port after $((SECONDS - start))s"
      else
        pending+=("$name")
      fi
    done
    waiting=("${pending[@]}")
    ((${#waiting[@]})) || break
    if ((SECONDS - start >= READY_TIMEOUT)); then
      for name in "${waiting[@]}"; do show_logs "$(logfile_of "$name")"; done
      die "not ready after ${READY_TIMEOUT}s: ${waiting[*]} (logs: $STACK_DIR/<name>.log); stop: $(stop_hint)"
    fi
    sleep 1
  done
}

stack_up() {
  [[ -x "$CLI" ]] || die "$CLI not found: run make install (or set TRANSFERLINE_CLI)"
  need_cmd curl "needed for the readiness checks, e.g. apt-get install curl"
  take_stack_lock
  load_settings
  ensure_token
  run_init
  local name
  # Every port first: a taken one fails `up` before anything starts (readiness would succeed against a stranger).
  while IFS= read -r name; do
    running_pid "$(pidfile_of "$name")" "$(marker_of "$name")" >/dev/null ||
      require_free_port "$(probe_host)" "$(port_of "$name")" "$name"
  done < <(service_names)
  while IFS= read -r name; do start_service "$name"; done < <(service_names)
  wait_all_ready
  log "up: gateway http://$(probe_host):$TRANSFERLINE_GATEWAY_PORT/ (bucket $TRANSFERLINE_BUCKET; API token $TOKEN_HINT)"
  log "logs: $STACK_DIR/<name>.log; stop: $(stop_hint)"
}

# SIGTERM every service at once (the leader only: gunicorn's master and the downloaders' pools stop their own
# children), wait for each up to its timeout, then SIGKILL its whole process group.
stack_down() {
  take_stack_lock
  local pidfile name pid deadline
  local -a names=() pids=()
  for pidfile in "$STACK_DIR"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    name="$(basename "$pidfile" .pid)"
    if pid="$(running_pid "$pidfile" "$(marker_of "$name")")"; then
      log "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$name") pids+=("$pid")
    else
      rm -f "$pidfile"
    fi
  done
  local i
  for i in "${!names[@]}"; do
    name="${names[$i]}" pid="${pids[$i]}"
    [[ "$name" == train ]] && deadline=$((SECONDS + TRAIN_STOP_TIMEOUT)) || deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not exit in time; sending SIGKILL"
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true # what is left of its group (children), if anything
    rm -f "$(pidfile_of "$name")"
    log "$name stopped"
  done
  ((${#names[@]})) || log "nothing running in $STACK_DIR"
}

stack_status() {
  load_settings
  local name pid port rc=0 state
  while IFS= read -r name; do
    port="$(port_of "$name")"
    if pid="$(running_pid "$(pidfile_of "$name")" "$(marker_of "$name")")"; then
      ready "$port" && state=ready || state=not-ready
      echo "$name: running (pid $pid) port $port $state, log $(logfile_of "$name")"
    else
      echo "$name: stopped"
      rc=1
    fi
  done < <(service_names)
  return "$rc"
}

case "${1:-}" in
  up) stack_up ;;
  down) stack_down ;;
  status) stack_status ;;
  *)
    echo "usage: $0 {up|down|status}" >&2
    exit 2
    ;;
esac
