#!/usr/bin/env bash
# `make bench-growth`: does a message cost more as the tables grow? Two instances of this build
# on ONE database, and `private` flat out GROWTH_ROUNDS times (default 6) in a row, so each round
# starts with every message of the rounds before it stored. Prints one Markdown row per round:
# the messages stored before it, its rate, and CPU µs per message by process. A cost that rises
# from round to round is a lookup that reads more as the tables grow (docs/performance.md,
# change 10, was one). BENCH_BIN names a binary built already. Everything stays on 127.0.0.0/8
# and every step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${GROWTH_ROUNDS:-6}
duration=${GROWTH_DURATION:-10s}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
workdir=$(mktemp -d)
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  cargo build --release --quiet --features clients --bin simplechat
  bin=$CARGO_TARGET_DIR/release/simplechat
fi
docker/dev-services.sh

source docker/bench-server.sh
# end_run: stops the servers, drops the run's database and Redis keys.
source docker/bench-builds.sh
pids=()
run_id=growth_$(date +%s)_$RANDOM
database_url=postgres://postgres@127.0.0.1:5432/$run_id
trap 'end_run; rm -rf "$workdir"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
meter_processes
start_server 18193 1
start_server 18194 2

echo "| round | messages stored before it | acked/s | CPU µs/msg: servers / Postgres / Redis / generator |"
echo "|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  stored=$(psql -h 127.0.0.1 -U postgres -d "$run_id" -Atc "SELECT count(*) FROM chat.messages")
  row=$(timeout 300 "$bin" bench --url http://127.0.0.1:18193 --url2 http://127.0.0.1:18194 \
    --scenarios private --server-pid "${pids[0]},${pids[1]}" "${meter[@]}" \
    --pairs 100 --duration "$duration" | grep '^| private')
  rate=$(echo "$row" | awk -F'|' '{ gsub(/ /, "", $5); print $5 }')
  cpu=$(echo "$row" | grep -o '): [0-9.]* / [0-9.]* / [0-9.]* / [0-9.]*' | cut -c4-)
  echo "| $round | $stored | $rate | $cpu |"
done
