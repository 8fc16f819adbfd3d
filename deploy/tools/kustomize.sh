#!/usr/bin/env bash
# kustomize, built from its Go module at a pinned version and cached like the MinIO build (deploy/local/minio.sh),
# so deploy/k8s is rendered by the real tool offline (tests/deploy/test_kubernetes.py, `make validate-deploy`).
#
#   deploy/tools/kustomize.sh install        build into the cache (once; about 30 s on 2 cores with a warm Go cache)
#   deploy/tools/kustomize.sh path           print the binary's path, building it first if missing
#   deploy/tools/kustomize.sh build DIR      `kustomize build` DIR, allowed to read deploy/stack.env (see below)
#   deploy/tools/kustomize.sh run ARGS       run it with any other arguments
set -euo pipefail

KUSTOMIZE_MODULE=sigs.k8s.io/kustomize/kustomize/v5
# v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with this machine's Go 1.26.
KUSTOMIZE_VERSION="${TRANSFERLINE_KUSTOMIZE_VERSION:-v5.8.2}"

LOG_TAG=kustomize
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

KUSTOMIZE_DIR="$CACHE_DIR/kustomize/$KUSTOMIZE_VERSION"
KUSTOMIZE_BIN="$KUSTOMIZE_DIR/kustomize"

kustomize_build() {
  need_cmd go "install Go 1.24+ from https://go.dev/dl or your package manager"
  local work start=$SECONDS
  work="$(mktemp -d "$KUSTOMIZE_DIR/build.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the trap must remove this build's folder
  trap "rm -rf '$work'" EXIT
  log "building $KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION with go install"
  # GOTOOLCHAIN=local: a version that wants a newer Go fails here instead of fetching a toolchain.
  GOBIN="$work" GOTOOLCHAIN=local CGO_ENABLED=0 go install -trimpath "$KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION" ||
    die "go install $KUSTOMIZE_MODULE@$KUSTOMIZE_VERSION failed"
  [[ -x "$work/kustomize" ]] || die "go install did not produce $work/kustomize"
  "$work/kustomize" version | grep -qF "$KUSTOMIZE_VERSION" ||
    die "built kustomize says $("$work/kustomize" version), not $KUSTOMIZE_VERSION"
  mv "$work/kustomize" "$KUSTOMIZE_BIN" # same folder: a rename, so no one sees half a binary
  log "built $KUSTOMIZE_BIN in $((SECONDS - start))s"
}

kustomize_install() {
  mkdir -p "$KUSTOMIZE_DIR"
  # One build at a time per cache: parallel test sessions wait for the first instead of building twice.
  exec 8>"$KUSTOMIZE_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 8 || die "timed out waiting for $KUSTOMIZE_DIR/.lock"
  fi
  if [[ -x "$KUSTOMIZE_BIN" ]]; then
    return 0
  fi
  kustomize_build
}

case "${1:-}" in
  install) kustomize_install ;;
  path)
    kustomize_install
    printf '%s\n' "$KUSTOMIZE_BIN"
    ;;
  build)
    shift
    kustomize_install
    # The base's ConfigMap is generated from deploy/stack.env, outside deploy/k8s (one source for every
    # deployment), which kustomize's default load restrictor refuses.
    exec "$KUSTOMIZE_BIN" build --load-restrictor LoadRestrictionsNone "$@"
    ;;
  run)
    shift
    kustomize_install
    exec "$KUSTOMIZE_BIN" "$@"
    ;;
  *)
    echo "usage: $0 {install|path|build DIR|run ARGS...}" >&2
    exit 2
    ;;
esac
