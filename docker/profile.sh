#!/usr/bin/env bash
# `make profile`: where a message's CPU goes. Starts one release simplechat against a Postgres of
# its own (a scratch folder, port $PROFILE_PG_PORT, pg_stat_statements preloaded: the shared
# Postgres is never restarted) and the local Redis (a fresh key prefix), runs the bench's `private`
# and `group` scenarios one after the other, and during each one's sending window records
#   - the server with `perf record` (the software cpu-clock: virtual machines often have no
#     hardware counters; DWARF call graphs: the release build keeps no frame pointers), drawn as
#     docs/perf/flamegraph-<scenario>.svg with inferno;
#   - Postgres' statements with pg_stat_statements, per stored message: docs/perf/pg-statements.md.
# Needs root (perf; initdb runs as the postgres user), perf (Debian's linux-perf) and inferno
# (`cargo install inferno`). Not run by CI. Takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in perf inferno-collapse-perf inferno-flamegraph runuser; do
  command -v "$tool" >/dev/null || { echo "profile.sh needs $tool on the PATH" >&2; exit 1; }
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --features clients --bin simplechat
bin=$CARGO_TARGET_DIR/release/simplechat
pg_port=${PROFILE_PG_PORT:-5502}
server_port=${PROFILE_SERVER_PORT:-7100}
seconds=${PROFILE_SECONDS:-8}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

run_id=profile_$(date +%s)_$RANDOM
workdir=$(mktemp -d)
chmod 755 "$workdir"
pg_home=$workdir/pg # owned by the postgres user: the data folder and the server log
pg_data=$pg_home/data
database_url=postgres://postgres@127.0.0.1:$pg_port/simplechat
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m immediate stop >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$run_id:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

# The same settings as the shared Postgres the bench uses, plus the statement statistics.
mkdir "$pg_home" && chown postgres "$pg_home"
runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_home/postgres.log" -w start -o \
  "-p $pg_port -k $pg_home -c listen_addresses=127.0.0.1 -c shared_buffers=128MB -c autovacuum=off \
   -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=1000" >/dev/null
sql() { psql -q -X -h 127.0.0.1 -p "$pg_port" -U postgres -d "${database:-postgres}" -At "$@"; }
sql -c "CREATE EXTENSION pg_stat_statements"

source docker/bench-server.sh
start_server "$server_port" 1
server_pid=${pids[0]}
mkdir -p docs/perf

# Runs scenario $1 (more bench options after it) and profiles its sending window.
profile() {
  local name=$1
  shift
  "$bin" bench --url "http://127.0.0.1:$server_port" --server-pid "$server_pid" \
    --scenarios "$name" --duration "$((seconds + 4))s" "$@" >"$workdir/$name.md" 2>"$workdir/$name.log" &
  local bench=$!
  until grep -qs '^bench: sending' "$workdir/$name.log"; do
    kill -0 "$bench" 2>/dev/null || { cat "$workdir/$name.log" >&2; return 1; }
    sleep 0.2
  done
  sleep 2 # past the first batches, into the steady state
  local stored_before
  stored_before=$(database=simplechat sql -c "SELECT count(*) FROM chat.messages")
  sql -c "SELECT pg_stat_statements_reset()" >/dev/null
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,16384 -p "$server_pid" \
    -o "$workdir/$name.perf" -- sleep "$seconds" 2>/dev/null
  sql -c "CREATE TABLE statements_$name AS SELECT * FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'simplechat')"
  local stored=$(($(database=simplechat sql -c "SELECT count(*) FROM chat.messages") - stored_before))
  wait "$bench"
  echo "$stored" >"$workdir/$name.stored"
  perf script -i "$workdir/$name.perf" 2>/dev/null | inferno-collapse-perf \
    | inferno-flamegraph --title "simplechat server, $name scenario ($(cat "$workdir/$name.stored") messages in ${seconds}s)" \
      --width 1400 >"docs/perf/flamegraph-$name.svg"
}

# One scenario's top statements as a Markdown table, per stored message.
statements() {
  local name=$1 stored
  stored=$(cat "$workdir/$name.stored")
  echo "### \`$name\`: $stored messages stored in ${seconds} s"
  echo
  grep '^| '"$name"' ' "$workdir/$name.md" | sed 's/^/Bench row: /' || true
  echo
  echo "| statement | calls per message | µs per message | rows per message | mean µs per call |"
  echo "|---|---|---|---|---|"
  sql -c "SELECT format('| \`%s\` | %s | %s | %s | %s |',
            replace(left(regexp_replace(query, '\s+', ' ', 'g'), 220), '|', '\|'),
            round(calls::numeric / $stored, 3), round((total_exec_time * 1000 / $stored)::numeric, 1),
            round(rows::numeric / $stored, 2), round((mean_exec_time * 1000)::numeric, 1))
          FROM statements_$name ORDER BY total_exec_time DESC LIMIT 12"
  sql -c "SELECT format('| all %s statements | %s | %s | %s | |', count(*),
            round(sum(calls)::numeric / $stored, 3), round((sum(total_exec_time) * 1000 / $stored)::numeric, 1),
            round(sum(rows)::numeric / $stored, 2)) FROM statements_$name"
  echo
}

echo "profiling private" >&2
profile private --pairs 100
echo "profiling group" >&2
profile group --groups 100 --group-size 10
{
  echo "# Postgres statements per stored message"
  echo
  echo "Written by \`make profile\` (docker/profile.sh) on $(date -u +%Y-%m-%d): pg_stat_statements over"
  echo "${seconds} s of each scenario's sending window, one release server, flat out. \"µs per message\" is"
  echo "execution time inside Postgres (not parsing, planning or waiting for the client) divided by the"
  echo "messages stored in that window. COMMIT shows almost nothing: the commit itself (and its WAL"
  echo "flush) runs after the statement's timing ends. The scenario's own row"
  echo "(its CPU columns cover the whole run) is given above each table."
  echo
  statements private
  statements group
} >docs/perf/pg-statements.md
echo "wrote docs/perf/flamegraph-private.svg, docs/perf/flamegraph-group.svg, docs/perf/pg-statements.md" >&2
