#!/usr/bin/env bash
# Local infrastructure for transferline: a real Kafka (KRaft) and a real MinIO
# on loopback. Used by `make infra-up|infra-down|infra-status` and by CI.
#
#   deploy/local/infra.sh up       install (cached) + start both, wait until ready,
#                                  write $INFRA/infra.env; no-op when already up
#   deploy/local/infra.sh down     stop both (SIGTERM, 30 s, SIGKILL), remove infra.env
#   deploy/local/infra.sh status   print what runs; exit 1 unless both run
set -euo pipefail

LOG_TAG=infra
# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INFRA_ENV="$INFRA_DIR/infra.env"

# Shell-sourceable KEY=VALUE lines (no `export`) for tests and services.
# Written atomically, mode 600: it holds the MinIO root secret.
write_infra_env() {
  local tmp="$INFRA_ENV.tmp"
  (
    umask 077
    {
      echo "# Written by deploy/local/infra.sh up; removed by down."
      bash "$DEPLOY_DIR/kafka.sh" env
      bash "$DEPLOY_DIR/minio.sh" env
    } >"$tmp"
  )
  mv "$tmp" "$INFRA_ENV"
  log "wrote $INFRA_ENV"
}

infra_up() {
  take_lock
  # Install both first: a missing tool fails fast, before anything starts.
  bash "$DEPLOY_DIR/kafka.sh" install
  bash "$DEPLOY_DIR/minio.sh" install
  bash "$DEPLOY_DIR/kafka.sh" start
  bash "$DEPLOY_DIR/minio.sh" start
  write_infra_env
  log "up; to use it: set -a; . $INFRA_ENV; set +a"
}

infra_down() {
  take_lock
  # Stop both even if the first one fails to stop; infra.env goes first so
  # nobody picks up endpoints that are about to disappear.
  local rc=0
  rm -f "$INFRA_ENV"
  bash "$DEPLOY_DIR/minio.sh" stop || rc=1
  bash "$DEPLOY_DIR/kafka.sh" stop || rc=1
  return "$rc"
}

infra_status() {
  local rc=0
  bash "$DEPLOY_DIR/kafka.sh" status || rc=1
  bash "$DEPLOY_DIR/minio.sh" status || rc=1
  if [[ -f "$INFRA_ENV" ]]; then
    echo "env: $INFRA_ENV"
  fi
  return "$rc"
}

case "${1:-}" in
  up) infra_up ;;
  down) infra_down ;;
  status) infra_status ;;
  *)
    echo "usage: $0 {up|down|status}" >&2
    exit 2
    ;;
esac
