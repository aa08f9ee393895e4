#!/usr/bin/env bash
# `make bench` (and, with BENCH_MODE=smoke, CI's quick run): starts two simplechat servers on
# loopback against the local Postgres and Redis (a fresh database and Redis prefix), measures
# this box's own limits (redis-benchmark PUBLISH, pgbench single-row INSERT), runs the load
# generator's scenarios, and writes docs/BENCHMARKS.md (full mode only). Everything stays on
# 127.0.0.0/8 and every step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${BENCH_MODE:-full}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ "$mode" = full ]; then
  cargo build --release --quiet --features clients --bin simplechat
  bin=$CARGO_TARGET_DIR/release/simplechat
else
  cargo build --quiet --features clients --bin simplechat
  bin=$CARGO_TARGET_DIR/debug/simplechat
fi
docker/dev-services.sh

run_id=bench_$(date +%s)_$RANDOM
database_url=postgres://postgres@127.0.0.1:5432/$run_id
workdir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS \"$run_id\" WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$run_id:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

source docker/bench-server.sh
# Every idle connection is a file descriptor on both ends: raise the soft limit as far as the hard
# one allows, before the servers start (they inherit it).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fd_limit=$(ulimit -n)
# The smoke run's heartbeat is short enough that its few-second scenarios outlast two heartbeats:
# a bench socket that stopped pinging would be closed by the server, and its messages counted lost.
heartbeat=()
if [ "$mode" = smoke ]; then heartbeat=(HEARTBEAT_INTERVAL=1s); fi
start_server 18181 1 "${heartbeat[@]}"
start_server 18182 2 "${heartbeat[@]}"
server_pids="${pids[0]},${pids[1]}"
# Meter the servers, and the Postgres and Redis they use (not other instances on the machine).
meter_processes
meter=(--server-pid "$server_pids" "${meter[@]}")
# For login-flood: an instance hashing as production does (BCRYPT_COST=12, the default queue).
# The auth rate limits stay off, so that the flood reaches the password hashing.
start_server 18183 3 BCRYPT_COST=12 BCRYPT_QUEUE=

if [ "$mode" = smoke ]; then
  "$bin" bench --url http://127.0.0.1:18181 --url2 http://127.0.0.1:18182 \
    --scenarios idle,private,latency,group,cross,reconnect,storm "${meter[@]}" \
    --idle 20 --idle-hold 3s --pairs 2 --duration 3s --latency-rate 20 --latency-runs 2 \
    --groups 1 --group-size 3 --reconnect 5 --missed 3 --storm 10 \
    --plots "$workdir/plots" --targets "$workdir/targets.md"
  "$bin" bench --url http://127.0.0.1:18183 --scenarios login-flood --flood-clients 5 --duration 2s
  "$bin" bench --url http://127.0.0.1:18181 --scenarios upload --uploads 5 --upload-bytes 65536 \
    --server-pid "${pids[0]}"
  # Last: it kills the first instance.
  "$bin" bench --url http://127.0.0.1:18181 --url2 http://127.0.0.1:18182 --scenarios failover \
    --failover 10 --server-pid "$server_pids"
  exit 0
fi

echo "measuring this box: Redis PUBLISH and Postgres INSERT on their own" >&2
publish_rate=$(redis-benchmark -h 127.0.0.1 -p 6379 -n 200000 -c 50 -q PUBLISH "$run_id:probe" hello \
  | tr '\r' '\n' | awk '/requests per second/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) v = $i } END { print v }')
psql -q -h 127.0.0.1 -U postgres -d "$run_id" -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, body text)"
echo "INSERT INTO bench_insert (body) VALUES ('x');" >"$workdir/insert.sql"
insert_rate=$(pgbench -h 127.0.0.1 -U postgres -n -c 8 -j 2 -T 10 -f "$workdir/insert.sql" "$run_id" 2>/dev/null \
  | awk '/^tps/ { print $3 }')

# Idle connections: as many as the open-file limit comfortably allows, at most 10000 (the run
# must stay within minutes: each connection's user is registered and logged in first).
idle=$(( fd_limit > 12000 ? 10000 : fd_limit * 3 / 4 ))
"$bin" bench --url http://127.0.0.1:18181 --url2 http://127.0.0.1:18182 \
  --scenarios idle,private,latency,group,cross,reconnect,storm "${meter[@]}" \
  --idle "$idle" --idle-hold 10s --pairs 100 --duration 12s --latency-rate 5000 --latency-runs 5 \
  --groups 100 --group-size 10 --reconnect 100 --missed 10 --storm 2000 \
  --plots docs/perf --targets "$workdir/targets.md" \
  --redis-publish-rate "$publish_rate" --postgres-insert-rate "$insert_rate" | tee "$workdir/results.md"
"$bin" bench --url http://127.0.0.1:18183 --scenarios login-flood --flood-clients 50 --duration 12s \
  | tee "$workdir/login-flood.md"
"$bin" bench --url http://127.0.0.1:18181 --scenarios upload --uploads 100 --upload-bytes 1048576 \
  --server-pid "${pids[0]}" | tee "$workdir/upload.md"
# Last, as it kills the first instance: its sockets return to the second while a bystander chats.
"$bin" bench --url http://127.0.0.1:18181 --url2 http://127.0.0.1:18182 --scenarios failover \
  --failover 2000 "${meter[@]}" | tee "$workdir/failover.md"

# The "Scaled out" section is written by `make bench-scale` (docker/bench-scale.sh): kept, last.
scale_section=$(sed -n '/^## Scaled out/,$p' docs/BENCHMARKS.md 2>/dev/null || true)
# So is the "Export memory" section (`make bench-export`, docker/export-memory.sh), before it.
export_section=$(awk '/^## Export memory/ { on = 1; print; next } /^## / { on = 0 } on' \
  docs/BENCHMARKS.md 2>/dev/null || true)
# And the "Side by side" section (docker/bench-compare.sh, which `make bench` runs last but one).
side_section=$(awk '/^## Side by side/ { on = 1; print; next } /^## / { on = 0 } on' \
  docs/BENCHMARKS.md 2>/dev/null || true)
# And the "Fair share under search" section (docker/fair-share-bench.sh, which `make bench` runs next).
fair_section=$(awk '/^## Fair share under search/ { on = 1; print; next } /^## / { on = 0 } on' \
  docs/BENCHMARKS.md 2>/dev/null || true)
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (docker/bench.sh) on $(date -u +%Y-%m-%d). Figures depend on the machine;"
  echo "compare them with the box's own limits below, measured in the same run. How they were"
  echo "improved, and what is left: [performance.md](performance.md)."
  echo
  echo "## Setup"
  echo
  echo "- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/^Mem:/ { print $2 }') GiB."
  echo "- Two release-build simplechat instances on loopback, one Postgres $(psql -h 127.0.0.1 -U postgres -Atc 'show server_version'), one Redis $(redis-server --version | awk '{ print $3 }' | cut -d= -f2), all on the same machine as the load generator."
  echo "- Server settings: DATABASE_POOL_SIZE=32, MESSAGE_WRITERS=2 (the default), WS_OUTBOUND_QUEUE=4096, send-rate limit off, auth rate limits off, BCRYPT_COST=4 and BCRYPT_QUEUE=4096 (only the set-up logs in). Open-file limit: $fd_limit."
  echo "- \`private\`, \`group\` and \`cross\` run flat out (each sender keeps up to 8 sends awaiting their ack), so"
  echo "  their latencies are mostly queueing: they measure throughput. \`latency\` is \`private\` at a fixed total"
  echo "  rate, the senders' ticks spread evenly: its latencies are what a user sees at that load. It runs"
  echo "  5 times in a row (\`latency 1\` … \`latency 5\`), each with fresh users: one run's p99 depends on"
  echo "  what else the cores do at that moment, so the spread over the runs is the figure to read."
  echo "- The last column's CPU µs per message is \`utime + stime\` of each process over the sending"
  echo "  window divided by the messages acked: the servers, every Postgres and Redis process, and the"
  echo "  load generator. All four share the cores, so it is the steadier figure to compare runs by."
  echo
  echo "## Results"
  echo
  sed '/^bench: /d' "$workdir/results.md"
  echo "![send→deliver latency by percentile, one line per scenario](perf/latency-percentiles.svg)"
  echo
  echo "![CPU µs per message, by process, one bar per scenario](perf/cpu-per-message.svg)"
  echo
  echo "A login flood against a third instance at BCRYPT_COST=12 (default hashing slots and queue, auth"
  echo "rate limits off so that the flood reaches the hashing); the owner reads \`GET /users/me\` and sends"
  echo "over a WebSocket every 20 ms meanwhile (send→ack is the owner's sends):"
  echo
  sed '/^bench: /d' "$workdir/login-flood.md"
  echo
  echo "Uploads (issue 25): 100 users each upload a 1 MiB file at the same moment, as multipart forms,"
  echo "to the first instance's folder store (\`STORAGE_URL\` under the run's temporary folder); its"
  echo "resident memory is sampled every 10 ms meanwhile:"
  echo
  sed '/^bench: /d' "$workdir/upload.md"
  echo
  echo "Failover (issue 30): the first instance is killed with 2000 sockets on it; each returning client"
  echo "takes a ticket from the second and reconnects there after its share of a 1 s jitter, while a"
  echo "bystander pair on the second exchanges a message every 10 ms (send→deliver is the bystander's"
  echo "while the others return):"
  echo
  sed '/^bench: /d' "$workdir/failover.md"
  echo
  echo "## Targets"
  echo
  echo "The cost per message (issue 20), on this machine with all four kinds of process sharing its"
  echo "cores. For a missed one, the last column links the profile that shows what bounds it; how the"
  echo "profiles were taken and what they show: [performance.md](performance.md)."
  echo
  cat "$workdir/targets.md"
  echo
  echo "Goals, not tests: ≥ 50k idle connections at ≤ 15 KB server RSS each; ≥ 5k persisted 1:1 msgs/s with"
  echo "send→deliver p99 < 25 ms; ≥ 25k group deliveries/s; zero loss, duplicates or reordering everywhere;"
  echo "while 50 clients flood wrong logins at BCRYPT_COST=12, \`GET /users/me\` and WebSocket sends p99 < 100 ms."
  echo "This run held $idle idle connections, so the RSS figure is per-connection growth at that count,"
  echo "not a 50k measurement: 50k connections need an open-file limit above 50k on both ends (here $fd_limit)."
  if [ -n "$side_section" ]; then
    echo
    echo "$side_section"
  fi
  if [ -n "$fair_section" ]; then
    echo
    echo "$fair_section"
  fi
  if [ -n "$export_section" ]; then
    echo
    echo "$export_section"
  fi
  if [ -n "$scale_section" ]; then
    echo
    echo "$scale_section"
  fi
} >docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md" >&2
