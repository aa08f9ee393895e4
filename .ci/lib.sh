# shellcheck shell=bash disable=SC2034
# Shared by the .ci/*.sh scripts that start a server (source it; do not run it).
#
# Each script runs the already-built binary (it never compiles): $SIMPLECHAT_BIN, else
# $CARGO_TARGET_DIR/debug/simplechat, else ~/.cache/simplechat-target/debug/simplechat. Servers get
# a fresh database (created by the server itself) and a fresh Redis prefix, listen on loopback only,
# and are stopped, and their database dropped and their Redis keys deleted, when the script exits.
#
# Postgres and Redis: $CI_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432, no database
# name) and $CI_REDIS_URL (default redis://127.0.0.1:6379).

ci_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CI_POSTGRES_URL=${CI_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
CI_REDIS_URL=${CI_REDIS_URL:-redis://127.0.0.1:6379}
# Installs (npm, pip) are cached here between runs.
CI_CACHE_DIR=${CI_CACHE_DIR:-$HOME/.cache/simplechat-ci}

ci_started=$(date +%s)
ci_tmp=$(mktemp -d "${TMPDIR:-/tmp}/simplechat-ci.XXXXXX")
ci_pids=()
ci_databases=()
ci_redis_prefixes=()
# The name of a function printing the script's summary line; called last, with the exit status.
ci_report=

# Counts a script's checks in `passed` and `failed` and prints `<name>: N passed, M failed` last,
# whichever way the script ends; an abort outside the checks counts as one failure.
ci_counting() {
  ci_check_name=$1
  passed=0
  failed=0
  ci_report=ci_counted_report
}
ci_counted_report() {
  if [ "$1" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
  echo "$ci_check_name: $passed passed, $failed failed"
}

ci_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
ci_die() { ci_log "FAILED: $*"; exit 1; }
ci_elapsed() { echo "$(($(date +%s) - ci_started))s"; }

ci_bin() {
  local bin=${SIMPLECHAT_BIN:-}
  if [ -z "$bin" ]; then
    if [ -n "${CARGO_TARGET_DIR:-}" ] && [ -x "$CARGO_TARGET_DIR/debug/simplechat" ]; then
      bin=$CARGO_TARGET_DIR/debug/simplechat
    else
      bin=$HOME/.cache/simplechat-target/debug/simplechat
    fi
  fi
  [ -x "$bin" ] || ci_die "no simplechat binary at $bin (build it with cargo build, or set SIMPLECHAT_BIN)"
  echo "$bin"
}

# A random lowercase suffix for database names, Redis prefixes and usernames.
ci_random() {
  python3 -c 'import secrets, string, sys
print("".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(int(sys.argv[1]))))' "${1:-10}"
}

# A free TCP port on 127.0.0.1 (the kernel's pick; another process could take it before we bind).
ci_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ci_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# apt-get install, once per script, as root only.
ci_apt_updated=
ci_apt_install() {
  [ "$(id -u)" = 0 ] || ci_die "need root to apt-get install $*"
  command -v apt-get >/dev/null || ci_die "no apt-get to install $*"
  if [ -z "$ci_apt_updated" ]; then
    timeout 300 apt-get update -qq || ci_die "apt-get update"
    ci_apt_updated=1
  fi
  ci_log "installing $* from Debian"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "$@" \
    >"$ci_tmp/apt.log" 2>&1 || { tail -n 20 "$ci_tmp/apt.log" >&2; ci_die "apt-get install $*"; }
}

# Fails early, with a hint, when Postgres or Redis does not answer.
# ci_chromium: prints the path of Debian's chromium, installing it when missing (as root).
ci_chromium() {
  local chromium
  chromium=$(command -v chromium || true)
  if [ -z "$chromium" ]; then
    ci_apt_install chromium >&2
    chromium=$(command -v chromium) || ci_die "chromium is not on PATH after installing it"
  fi
  ci_log "$("$chromium" --version 2>/dev/null || echo chromium)"
  echo "$chromium"
}

ci_require_services() {
  local rest
  rest=${CI_POSTGRES_URL#*://}; rest=${rest##*@}; rest=${rest%%/*}
  ci_answers "${rest%%:*}" "${rest##*:}" ||
    ci_die "Postgres does not answer at $rest (start it, e.g. with docker/dev-services.sh, or set CI_POSTGRES_URL)"
  rest=${CI_REDIS_URL#*://}; rest=${rest##*@}; rest=${rest%%/*}
  ci_answers "${rest%%:*}" "${rest##*:}" ||
    ci_die "Redis does not answer at $rest (start it, e.g. with docker/dev-services.sh, or set CI_REDIS_URL)"
}

# ci_new_database VAR PURPOSE: sets VAR to a fresh database name, dropped at exit. The server
# creates the database itself.
ci_new_database() {
  local _ci_name
  _ci_name="ci_${2:-run}_$(ci_random 10)"
  ci_databases+=("$_ci_name")
  printf -v "$1" '%s' "$_ci_name"
}

# ci_new_redis_prefix VAR PURPOSE: sets VAR to a fresh Redis prefix, whose keys are deleted at exit.
ci_new_redis_prefix() {
  local _ci_prefix
  _ci_prefix="ci_${2:-run}_$(ci_random 10):"
  ci_redis_prefixes+=("$_ci_prefix")
  printf -v "$1" '%s' "$_ci_prefix"
}

# ci_start_server NAME PORT [KEY=VALUE ...]: starts `simplechat serve` on 127.0.0.1:PORT in the
# background (in a temporary directory, so no .env is read), logging to $ci_tmp/NAME.log. The
# KEY=VALUE pairs are added to its environment; the caller gives DATABASE_URL, REDIS_PREFIX etc.
# SHUTDOWN_DRAIN is 0s unless given (a script's servers have no balancer to drain from, and each
# stop would otherwise take 5 s longer). Sets ci_last_pid.
ci_start_server() {
  local name=$1 port=$2; shift 2
  local bin; bin=$(ci_bin)
  mkdir -p "$ci_tmp/$name"
  (
    cd "$ci_tmp/$name" &&
      exec env NO_COLOR=1 RUST_LOG="${CI_RUST_LOG:-info}" LISTEN_ADDR="127.0.0.1:$port" \
        REDIS_URL="$CI_REDIS_URL" SHUTDOWN_DRAIN=0s "$@" "$bin" serve
  ) >"$ci_tmp/$name.log" 2>&1 &
  ci_last_pid=$!
  ci_pids+=("$ci_last_pid")
  ci_log "started $name (pid $ci_last_pid) on 127.0.0.1:$port, log $ci_tmp/$name.log"
}

# ci_wait_ready NAME PORT PID: waits (at most 90 s) for GET /readyz to answer 200.
ci_wait_ready() {
  local name=$1 port=$2 pid=$3
  for _ in $(seq 1 360); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$ci_tmp/$name.log" >&2
      ci_die "$name exited during start-up (log above)"
    fi
    if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
      ci_log "$name is ready"
      return 0
    fi
    sleep 0.25
  done
  tail -n 30 "$ci_tmp/$name.log" >&2
  ci_die "$name did not become ready on port $port within 90s"
}

# Stops one process: SIGTERM, then SIGKILL after 12 s (the server's graceful shutdown takes <= 10 s).
ci_stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 48); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.25
  done
  ci_log "pid $pid ignored SIGTERM; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

ci_cleanup() {
  local status=$?
  set +e
  [ "$status" = 0 ] || ci_log "exiting with status $status; cleaning up"
  local pid name prefix
  for pid in "${ci_pids[@]}"; do ci_stop_pid "$pid"; done
  for name in "${ci_databases[@]}"; do
    timeout 30 psql "$CI_POSTGRES_URL/postgres" -qAtX -v ON_ERROR_STOP=1 \
      -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 ||
      ci_log "could not drop database $name"
  done
  if command -v redis-cli >/dev/null; then
    for prefix in "${ci_redis_prefixes[@]}"; do
      timeout 30 redis-cli -u "$CI_REDIS_URL" --scan --pattern "${prefix}*" 2>/dev/null |
        timeout 30 xargs -r -n 500 redis-cli -u "$CI_REDIS_URL" del >/dev/null 2>&1
    done
  fi
  if [ "$status" != 0 ] && [ -z "${CI_KEEP_TMP:-}" ]; then
    # Show the servers' last words before their logs go.
    for f in "$ci_tmp"/*.log; do
      [ -s "$f" ] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 15 "$f" >&2
    done
  fi
  if [ -n "${CI_KEEP_TMP:-}" ]; then ci_log "kept $ci_tmp"; else rm -rf "$ci_tmp"; fi
  ci_log "took $(ci_elapsed)"
  # The script's one-line summary comes last, whichever way it ended.
  [ -z "${ci_report:-}" ] || "$ci_report" "$status"
  exit "$status"
}
trap ci_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
