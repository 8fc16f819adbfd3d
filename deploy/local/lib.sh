# shellcheck shell=bash
# Common helpers for deploy/local/*.sh. Sourced, never run directly.
#
# Layout (shared with other code, keep the names):
#   cache:   ${TRANSFERLINE_CACHE_DIR:-$HOME/.cache/transferline}   downloads/builds, kept between runs
#   runtime: ${TRANSFERLINE_INFRA_DIR:-<repo>/var/infra}             data, logs, pid files

# The repo is two levels above this file, wherever it is checked out.
# (The variables below are used by the scripts that source this file.)
# shellcheck disable=SC2034
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEPLOY_DIR="$REPO_ROOT/deploy/local"
CACHE_DIR="${TRANSFERLINE_CACHE_DIR:-$HOME/.cache/transferline}"
INFRA_DIR="${TRANSFERLINE_INFRA_DIR:-$REPO_ROOT/var/infra}"

# Seconds to wait for a daemon to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT="${TRANSFERLINE_STOP_TIMEOUT:-30}"

log() { printf '[%s] %s\n' "${LOG_TAG:-infra}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_cmd() {
  local cmd="$1" hint="$2"
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found on PATH ($hint)"
}

# Print the pid in PIDFILE if that process is alive AND its command line
# contains MARKER; pids get reused, so a bare `kill -0` could point at a
# stranger after a reboot or a crash.
running_pid() {
  local pidfile="$1" marker="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker" || return 1
  printf '%s\n' "$pid"
}

# Start CMD... detached: own session (so Ctrl-C in the caller's terminal or
# the end of a CI step does not reach it), stdin closed, output to LOGFILE.
# The inner shell writes its own pid and then execs, so PIDFILE holds the
# daemon's real pid even if setsid had to fork. fd 9 (the infra lock) is
# closed so the daemon does not hold the lock for its whole life.
start_detached() {
  local pidfile="$1" logfile="$2"
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    >>"$logfile" 2>&1 </dev/null 9>&- &
  # Wait (briefly) for the pid file so callers can rely on it.
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start $1 (no pid file $pidfile); see $logfile"
}

# SIGTERM the daemon (its whole process group: setsid made it the leader),
# wait up to STOP_TIMEOUT s, then SIGKILL. No-op if it is not running.
stop_pidfile() {
  local pidfile="$1" marker="$2" name="$3" pid i
  if ! pid="$(running_pid "$pidfile" "$marker")"; then
    rm -f "$pidfile"
    log "$name not running"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  # Anything left in the group (children) gets the same treatment.
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
  log "$name stopped"
}

# True if something accepts TCP connections on HOST:PORT.
port_open() {
  local host="$1" port="$2"
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# Refuse to start when the port is taken by something we did not start:
# otherwise readiness would succeed against the stranger.
require_free_port() {
  local host="$1" port="$2" name="$3"
  if port_open "$host" "$port"; then
    die "$name: $host:$port is already in use by another process (check: ss -ltnp 'sport = :$port')"
  fi
}

# Tail of a log file, or of every file in a log directory, to stderr.
show_logs() {
  local path="$1" f
  for f in "$path" "$path"/*; do
    [[ -f "$f" && -s "$f" ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2 || true
  done
}

# Poll CHECK... every second until it succeeds or TIMEOUT s pass. On failure
# show the tail of LOGS (file or dir; the reason is usually in there).
wait_ready() {
  local name="$1" timeout="$2" logs="$3" pidfile="$4" marker="$5"
  shift 5
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ! running_pid "$pidfile" "$marker" >/dev/null; then
      log "$name exited during start-up"
      show_logs "$logs"
      die "$name failed to start"
    fi
    if ((SECONDS - start >= timeout)); then
      log "$name not ready after ${timeout}s"
      show_logs "$logs"
      die "$name did not become ready"
    fi
    sleep 1
  done
  log "$name ready after $((SECONDS - start))s"
}

# Serialise up/down/start/stop on one runtime dir (two `make infra-up` in
# parallel would otherwise race on pid files and ports). Re-entrant: a
# script called from infra.sh sees TRANSFERLINE_INFRA_LOCKED and skips.
take_lock() {
  [[ -n "${TRANSFERLINE_INFRA_LOCKED:-}" ]] && return 0
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 300 9 || die "timed out waiting for lock $INFRA_DIR/.lock"
  fi
  export TRANSFERLINE_INFRA_LOCKED=1
}
