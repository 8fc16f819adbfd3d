#!/usr/bin/env bash
# The docker compose CLI, built from its Go module at a pinned version and cached like the MinIO build
# (deploy/local/minio.sh), so `docker-compose.yml` is validated by the real tool where no Docker engine runs.
# The binary runs standalone: `config` needs no engine.
#
#   deploy/tools/compose.sh install     build into the cache (once; 1.5-3 min on 2 cores)
#   deploy/tools/compose.sh path        print the binary's path, building it first if missing
#   deploy/tools/compose.sh run ARGS    run it: `compose.sh run config --format json`
set -euo pipefail

COMPOSE_MODULE=github.com/docker/compose/v2
COMPOSE_VERSION="${TRANSFERLINE_COMPOSE_VERSION:-v2.40.3}"

LOG_TAG=compose
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

COMPOSE_DIR="$CACHE_DIR/compose/$COMPOSE_VERSION"
COMPOSE_BIN="$COMPOSE_DIR/docker-compose"

# `go install` refuses the module (its go.mod has exclude directives), so it is built from a writable copy.
compose_build() {
  need_cmd go "install Go 1.24+ from https://go.dev/dl or your package manager"
  local info source work start=$SECONDS
  info="$(go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION")" ||
    die "go mod download $COMPOSE_MODULE@$COMPOSE_VERSION failed"
  source="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$info")"
  [[ -d "$source" ]] || die "go mod download gave no source folder: $info"
  work="$(mktemp -d "$COMPOSE_DIR/build.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the trap must remove this build's folder
  trap "rm -rf '$work'" EXIT
  cp -R "$source/." "$work/src"
  chmod -R u+w "$work/src"
  log "building $COMPOSE_MODULE@$COMPOSE_VERSION (1.5-3 min on a cold Go cache)"
  (cd "$work/src" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" -o "$work/docker-compose" ./cmd) ||
    die "go build of $COMPOSE_MODULE@$COMPOSE_VERSION failed"
  mv "$work/docker-compose" "$COMPOSE_BIN"  # same folder: a rename, so no one sees half a binary
  log "built $COMPOSE_BIN in $((SECONDS - start))s"
}

compose_install() {
  mkdir -p "$COMPOSE_DIR"
  # One build at a time per cache: parallel test sessions wait for the first instead of building twice.
  exec 8>"$COMPOSE_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 8 || die "timed out waiting for $COMPOSE_DIR/.lock"
  fi
  if [[ -x "$COMPOSE_BIN" ]]; then
    return 0
  fi
  compose_build
}

case "${1:-}" in
  install) compose_install ;;
  path)
    compose_install
    printf '%s\n' "$COMPOSE_BIN"
    ;;
  run)
    shift
    compose_install
    exec "$COMPOSE_BIN" "$@"
    ;;
  *)
    echo "usage: $0 {install|path|run ARGS...}" >&2
    exit 2
    ;;
esac
