#!/usr/bin/env bash
# The fault suite (`make faults`) or the soak check (`make soak`, i.e. `run.sh soak`); see
# docs/RELIABILITY.md.
#
# Starts its OWN Redis and Postgres (spare loopback ports, data under a temporary directory) and its
# own simplechat instances, from $SIMPLECHAT_BIN, else $CARGO_TARGET_DIR/debug/simplechat (brought
# up to date with `cargo build --bin simplechat` first). The shared Postgres and Redis are never touched.
# Installs redis-server/Postgres from Debian when missing (as root) and the Python `websockets`
# package into the venv under ~/.cache/simplechat-ci that .ci/e2e-nginx.sh uses too.
# Everything it started is stopped when it exits, whichever way.
#
#   tests/faults/run.sh [faults] [fault_suite.py options...]   e.g. --faults kill9,sigterm
#   tests/faults/run.sh soak [soak.py options...]              e.g. --minutes 5
# Environment: FAULTS_RATE (msgs/s, default 240), FAULTS_KEEP_TMP=1 keeps logs and data,
# SOAK_MINUTES (default 3), SOAK_RATE (default 1000).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=faults
if [ "${1:-}" = soak ] || [ "${1:-}" = faults ]; then mode=$1; shift; fi

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- tools
apt_updated=
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "install $* (need root and apt-get to do it here)"
  if [ -z "$apt_updated" ]; then timeout 300 apt-get update -qq || die "apt-get update"; apt_updated=1; fi
  log "installing $* from Debian"
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    die "apt-get install $*"
}
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${PG_BINDIR:-}" ]; then
  apt_install postgresql
fi
command -v psql >/dev/null || apt_install postgresql-client
if [ "$(id -u)" = 0 ]; then
  command -v runuser >/dev/null || die "runuser is needed to run Postgres as the postgres user"
  id postgres >/dev/null 2>&1 || die "no postgres OS user (install postgresql)"
fi

cache=${CI_CACHE_DIR:-$HOME/.cache/simplechat-ci}
venv=$cache/venv
if ! "$venv/bin/python" -c 'import websockets.asyncio.client' 2>/dev/null; then
  log "installing the Python websockets package into $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  python3 -m venv "$venv" || die "python3 -m venv (install python3-venv)"
  timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check 'websockets>=13' ||
    die "pip install websockets"
fi

# --- the binary
# Without SIMPLECHAT_BIN, the debug build of this tree (cargo build is quick when it is current).
bin=${SIMPLECHAT_BIN:-}
if [ -z "$bin" ]; then
  bin=${CARGO_TARGET_DIR:-$root/target}/debug/simplechat
  (cd "$root" && nice cargo build --quiet --features clients --bin simplechat) || die "cargo build"
fi
[ -x "$bin" ] || die "no simplechat binary at $bin"
log "binary: $bin"

# --- a temporary directory the postgres user can enter, and the trap that empties it
tmp=$(mktemp -d "${TMPDIR:-/tmp}/simplechat-faults.XXXXXX")
chmod 755 "$tmp"
cleanup() {
  local status=$?
  set +e
  # Whatever the suite left running (it stops everything itself unless it was killed): by pid.
  if [ -f "$tmp/pids" ]; then
    while read -r pid what; do
      for _ in 1 2 3 4 5 6 7 8; do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then
        log "stopping leftover $what (pid $pid)"
        kill -KILL "$pid" 2>/dev/null
      fi
    done <"$tmp/pids"
  fi
  if [ -f "$tmp/pg/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$tmp/pg/data/postmaster.pid")
    kill -0 "$pid" 2>/dev/null && kill -QUIT "$pid" 2>/dev/null
  fi
  if [ "$status" != 0 ] && [ -z "${FAULTS_KEEP_TMP:-}" ]; then
    for f in "$tmp"/*.log; do
      [ -s "$f" ] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 12 "$f" >&2
    done
  fi
  if [ -n "${FAULTS_KEEP_TMP:-}" ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$here"
if [ "$mode" = soak ]; then
  "$venv/bin/python" soak.py --bin "$bin" --tmp "$tmp" "$@"
else
  # Hard bound: the suite bounds itself (5.5 min), this is the backstop.
  timeout -k 10 420 "$venv/bin/python" fault_suite.py --bin "$bin" --tmp "$tmp" "$@"
fi
