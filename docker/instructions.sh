#!/usr/bin/env bash
# `make bench-instructions`: instructions the server executes per 1:1 message, counted by
# valgrind's callgrind, for this build and an older one (BASELINE_REF, default 44533c0; or
# BASELINE_BIN). Unlike CPU time on a shared two-core box, an instruction count repeats from run
# to run, so small cuts show.
#
# For each build, one instance runs under callgrind twice: `latency` with 10 pairs at 100
# messages/s for SHORT and for LONG seconds, each on a fresh database. Both runs do the same set-up
# (start, sign-ups, logins, sockets, shutdown), so the difference of their totals divided by the
# difference of their message counts is what one more message costs. Postgres and Redis are not
# counted (they run natively; `make bench-compare` has their CPU time). Writes the table to
# stdout; docs/performance.md records it.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline_ref=${BASELINE_REF:-44533c0}
short=${SHORT:-5}
long=${LONG:-15}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
workdir=$(mktemp -d)

source docker/bench-builds.sh
prepare_builds

source docker/bench-server.sh
# measure BUILD SECONDS: prints "instructions messages".
measure() {
  local build=$1 seconds=$2
  run_id=instructions_${build}_$(date +%s)_$RANDOM
  database_url=postgres://postgres@127.0.0.1:5432/$run_id
  local out=$workdir/callgrind.$build.$seconds
  # start_server runs "$bin serve": here $bin is valgrind's wrapper around the build.
  cat >"$workdir/under-callgrind" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$out "$workdir/$build" "\$@"
EOF
  chmod +x "$workdir/under-callgrind"
  bin=$workdir/under-callgrind
  READY_TRIES=600 start_server 18195 1
  local acked
  acked=$(timeout 300 "$workdir/current" bench --url http://127.0.0.1:18195 --scenarios latency \
    --pairs 10 --latency-rate 100 --duration "${seconds}s" \
    | awk -F'|' '/^\| latency/ { gsub(/ /, "", $5); print $5 }')
  end_run
  local total
  total=$(awk '/^summary:|^totals:/ { print $2; exit }' "$out")
  # acked/s times the seconds: the messages acked.
  echo "$total $(( acked * seconds ))"
}

echo "| build | instructions per message (server) | runs |"
echo "|---|---|---|"
for build in baseline current; do
  read -r short_total short_messages < <(measure "$build" "$short")
  read -r long_total long_messages < <(measure "$build" "$long")
  per_message=$(( (long_total - short_total) / (long_messages - short_messages) ))
  label=$([ "$build" = baseline ] && echo "$baseline_ref" || echo "$current_label")
  echo "| $label | $per_message | ${short}s: $short_total Ir, $short_messages msgs; ${long}s: $long_total Ir, $long_messages msgs |"
done
