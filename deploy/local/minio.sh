#!/usr/bin/env bash
# Single-node MinIO (S3 API) on loopback, for local development and CI.
# Built from source with `go install` (pinned pseudo-version), no download
# of a prebuilt binary.
#
#   deploy/local/minio.sh install   go install into the cache (once)
#   deploy/local/minio.sh start     start, wait until /minio/health/ready answers 200
#   deploy/local/minio.sh stop      SIGTERM, wait, SIGKILL
#   deploy/local/minio.sh status    print whether it runs
#   deploy/local/minio.sh env       print the TRANSFERLINE_S3_* lines for infra.env
set -euo pipefail

MINIO_VERSION="${TRANSFERLINE_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
MINIO_HOST="${TRANSFERLINE_MINIO_HOST:-127.0.0.1}"
MINIO_PORT="${TRANSFERLINE_MINIO_PORT:-19000}"
MINIO_CONSOLE_PORT="${TRANSFERLINE_MINIO_CONSOLE_PORT:-19001}"
MINIO_REGION="${TRANSFERLINE_MINIO_REGION:-us-east-1}"
MINIO_READY_TIMEOUT="${TRANSFERLINE_MINIO_READY_TIMEOUT:-60}"

LOG_TAG=minio
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MINIO_BIN="$CACHE_DIR/minio/$MINIO_VERSION/bin/minio"
MINIO_RUN="$INFRA_DIR/minio"
MINIO_DATA="$INFRA_DIR/minio-data"
MINIO_LOGS="$MINIO_RUN/logs"
MINIO_LOG="$MINIO_LOGS/minio.log"
MINIO_PID="$MINIO_RUN/minio.pid"
# Root credentials: generated once per runtime dir, reused after, so the
# data dir and anything that saved infra.env keep working across restarts.
MINIO_CREDENTIALS="$MINIO_RUN/credentials.env"
# Found in the process's command line; tells our server apart from others.
MINIO_MARKER="server $MINIO_DATA"
MINIO_URL="http://$MINIO_HOST:$MINIO_PORT"

# A full build takes several minutes on 2 cores; Go's build cache makes a
# rebuild of the same version near-instant, and the binary is kept per version.
minio_install() {
  if [[ -x "$MINIO_BIN" ]]; then
    log "minio $MINIO_VERSION already installed at $MINIO_BIN"
    return 0
  fi
  need_cmd go "install Go 1.24+ from https://go.dev/dl or your package manager"
  log "building minio $MINIO_VERSION with go install (several minutes on a cold Go cache)"
  local start=$SECONDS
  GOBIN="$(dirname "$MINIO_BIN")" go install "github.com/minio/minio@$MINIO_VERSION" ||
    die "go install github.com/minio/minio@$MINIO_VERSION failed"
  [[ -x "$MINIO_BIN" ]] || die "go install did not produce $MINIO_BIN"
  log "minio installed in $((SECONDS - start))s"
}

# Random alphanumerics from the kernel; no openssl/python needed.
random_string() {
  local n="$1" s
  s="$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$n")" || true
  printf '%s' "$s"
}

ensure_credentials() {
  [[ -s "$MINIO_CREDENTIALS" ]] && return 0
  mkdir -p "$MINIO_RUN"
  local tmp="$MINIO_CREDENTIALS.tmp"
  (
    umask 077
    printf 'MINIO_ROOT_USER=tl%s\nMINIO_ROOT_PASSWORD=%s\n' \
      "$(random_string 14)" "$(random_string 32)" >"$tmp"
  )
  mv "$tmp" "$MINIO_CREDENTIALS"
  log "generated root credentials in $MINIO_CREDENTIALS"
}

load_credentials() {
  [[ -s "$MINIO_CREDENTIALS" ]] || die "no credentials in $MINIO_CREDENTIALS (run start first)"
  # Plain KEY=VALUE of [A-Za-z0-9] only, written above: safe to source.
  # shellcheck disable=SC1090
  source "$MINIO_CREDENTIALS"
  [[ -n "${MINIO_ROOT_USER:-}" && -n "${MINIO_ROOT_PASSWORD:-}" ]] ||
    die "$MINIO_CREDENTIALS lacks MINIO_ROOT_USER/MINIO_ROOT_PASSWORD"
}

minio_ready() {
  [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$MINIO_URL/minio/health/ready")" == 200 ]]
}

minio_start() {
  take_lock
  local pid
  if pid="$(running_pid "$MINIO_PID" "$MINIO_MARKER")"; then
    log "already running (pid $pid)"
    wait_ready minio "$MINIO_READY_TIMEOUT" "$MINIO_LOGS" "$MINIO_PID" "$MINIO_MARKER" minio_ready
    return 0
  fi
  [[ -x "$MINIO_BIN" ]] || minio_install
  need_cmd curl "needed for the readiness check, e.g. apt-get install curl"
  require_free_port "$MINIO_HOST" "$MINIO_PORT" minio
  require_free_port "$MINIO_HOST" "$MINIO_CONSOLE_PORT" minio-console
  ensure_credentials
  load_credentials
  mkdir -p "$MINIO_DATA" "$MINIO_LOGS"
  log "starting minio on $MINIO_URL (console $MINIO_HOST:$MINIO_CONSOLE_PORT, logs: $MINIO_LOGS)"
  # Credentials via the environment, not argv, so `ps` does not show them.
  # No update checks: CI machines have no internet.
  export MINIO_ROOT_USER MINIO_ROOT_PASSWORD
  export MINIO_SITE_REGION="$MINIO_REGION" MINIO_UPDATE=off
  start_detached "$MINIO_PID" "$MINIO_LOG" \
    "$MINIO_BIN" server "$MINIO_DATA" \
    --address "$MINIO_HOST:$MINIO_PORT" \
    --console-address "$MINIO_HOST:$MINIO_CONSOLE_PORT" \
    --quiet
  wait_ready minio "$MINIO_READY_TIMEOUT" "$MINIO_LOGS" "$MINIO_PID" "$MINIO_MARKER" minio_ready
}

minio_stop() {
  take_lock
  stop_pidfile "$MINIO_PID" "$MINIO_MARKER" minio
}

minio_status() {
  local pid ready=no
  if pid="$(running_pid "$MINIO_PID" "$MINIO_MARKER")"; then
    minio_ready && ready=yes
    echo "minio $MINIO_VERSION: running (pid $pid) on $MINIO_URL, console $MINIO_HOST:$MINIO_CONSOLE_PORT, ready=$ready, data $MINIO_DATA, logs $MINIO_LOGS"
  else
    echo "minio $MINIO_VERSION: stopped"
    return 1
  fi
}

minio_env() {
  load_credentials
  cat <<EOF
TRANSFERLINE_STORE=s3
TRANSFERLINE_S3_ENDPOINT=$MINIO_URL
TRANSFERLINE_S3_ACCESS_KEY=$MINIO_ROOT_USER
TRANSFERLINE_S3_SECRET_KEY=$MINIO_ROOT_PASSWORD
TRANSFERLINE_S3_REGION=$MINIO_REGION
EOF
}

case "${1:-}" in
  install) minio_install ;;
  start) minio_start ;;
  stop) minio_stop ;;
  status) minio_status ;;
  env) minio_env ;;
  *)
    echo "usage: $0 {install|start|stop|status|env}" >&2
    exit 2
    ;;
esac
