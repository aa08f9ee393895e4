#!/usr/bin/env bash
# Makes sure Postgres and Redis answer at DATABASE_URL and REDIS_URL (from the environment, else
# .env, else the defaults). When one does not answer but its programs are installed, a
# project-local one is started under .data/ on the configured port; otherwise this prints how to
# get one and fails. Used by `make run` and `make test`, for machines without Docker.
set -euo pipefail

# shellcheck source=docker/settings.sh
source "$(dirname "$0")/settings.sh"
data="$root/.data"

# host and port of scheme://[user[:pass]@]host[:port][/...]
host_of() { local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}; echo "${rest%%:*}"; }
port_of() {
  local rest=${1#*://}; rest=${rest##*@}; rest=${rest%%/*}
  if [[ $rest == *:* ]]; then echo "${rest##*:}"; else echo "$2"; fi
}
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_for() {
  for _ in $(seq 1 60); do answers "$2" "$3" && return 0; sleep 0.5; done
  echo "$1 did not start on $2:$3; see $data/$1.log" >&2
  return 1
}
is_local() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 ]]; }

pg_host=$(host_of "$database_url"); pg_port=$(port_of "$database_url" 5432)
redis_host=$(host_of "$redis_url"); redis_port=$(port_of "$redis_url" 6379)

start_postgres() {
  local bin
  bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n 1)")
  if [ ! -x "$bin/initdb" ] || ! is_local "$pg_host"; then
    echo "Postgres does not answer at $pg_host:$pg_port." >&2
    echo "Install it (Debian: apt-get install postgresql) or point DATABASE_URL at a running one." >&2
    return 1
  fi
  mkdir -p "$data"
  # initdb refuses to run as root: run the cluster as the postgres user then.
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home "$data" postgres
    run=(runuser -u postgres --)
    touch "$data/postgres.log"
    chown postgres "$data" "$data/postgres.log"
  fi
  if [ ! -f "$data/postgres/PG_VERSION" ]; then
    "${run[@]}" "$bin/initdb" -D "$data/postgres" -U postgres --auth=trust >"$data/postgres.log" 2>&1
  fi
  echo "Starting a project-local Postgres on port $pg_port (data in .data/postgres)"
  "${run[@]}" "$bin/pg_ctl" -D "$data/postgres" -l "$data/postgres.log" -w \
    -o "-p $pg_port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
  wait_for postgres 127.0.0.1 "$pg_port"
}

start_redis() {
  if ! command -v redis-server >/dev/null || ! is_local "$redis_host"; then
    echo "Redis does not answer at $redis_host:$redis_port." >&2
    echo "Install it (Debian: apt-get install redis-server) or point REDIS_URL at a running one." >&2
    return 1
  fi
  mkdir -p "$data/redis"
  echo "Starting a project-local Redis on port $redis_port (log in .data/redis.log)"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --dir "$data/redis" --logfile "$data/redis.log"
  wait_for redis 127.0.0.1 "$redis_port"
}

answers "$pg_host" "$pg_port" || start_postgres
answers "$redis_host" "$redis_port" || start_redis
