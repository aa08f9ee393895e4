#!/usr/bin/env bash
# `make bench-scale`: simplechat scaled out. A local Redis Cluster (3 masters + 3 replicas, ports
# 7020-7025), three release-build instances on it, and one load-generator process per instance
# (`simplechat bench --scenarios idle`), each holding SCALE_PER_INSTANCE authenticated, idle
# WebSockets (default 16,700: 50,100 in all; one process may hold at most 20,000 descriptors here).
# Every socket pings from the moment it connects; connects run a few at a time. Reported per
# instance: RSS and CPU per idle connection, time to connect; then cross-instance 1:1 and group
# traffic through the cluster, and the same 1:1 latency run on two instances sharing one Redis,
# for the cluster's cost. Writes the "Scaled out" section of docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

per_instance=${SCALE_PER_INSTANCE:-16700}
hold=${SCALE_HOLD:-60s}
latency_rate=${SCALE_LATENCY_RATE:-2000}
# SCALE_PROFILE=debug and a small SCALE_PER_INSTANCE try the script out quickly; SCALE_OUT names
# another file to write the section to.
profile=${SCALE_PROFILE:-release}
out=${SCALE_OUT:-docs/BENCHMARKS.md}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ "$profile" = release ]; then
  cargo build --release --quiet --features clients --bin simplechat
else
  cargo build --quiet --features clients --bin simplechat
fi
bin=$CARGO_TARGET_DIR/$profile/simplechat
docker/dev-services.sh

run_id=scale_$(date +%s)_$RANDOM
database_url=postgres://postgres@127.0.0.1:5432/$run_id
workdir=$(mktemp -d)
export REDIS_CLUSTER_PORT=7020 REDIS_CLUSTER_DIR=$workdir/cluster
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  docker/redis-cluster.sh stop || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS \"$run_id\" WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "$run_id:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  mkdir -p "${TMPDIR:-/tmp}/simplechat-bench-scale"
  cp "$workdir"/*.md "${TMPDIR:-/tmp}/simplechat-bench-scale/" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT
docker/redis-cluster.sh start
nodes=$(docker/redis-cluster.sh nodes)

# The bench's server settings (docker/bench-server.sh), with a smaller pool: three instances
# share one Postgres here.
source docker/bench-server.sh
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ports=(18191 18192 18193)
server_pids=()
for i in 0 1 2; do
  start_server "${ports[$i]}" $((i + 1)) DATABASE_POOL_SIZE=16 REDIS_CLUSTER_NODES="$nodes"
  server_pids+=("${pids[-1]}")
done

instance_connections() { # port: its open WebSockets
  curl -fsS "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk '/^simplechat_ws_connections / { printf "%d", $2; found = 1 } END { if (!found) print 0 }'
}

echo "scale: $per_instance idle WebSockets on each of 3 instances, held $hold" >&2
started=$(date +%s)
gen_pids=()
for i in 0 1 2; do
  "$bin" bench --url "http://127.0.0.1:${ports[$i]}" --scenarios idle --idle "$per_instance" \
    --idle-hold "$hold" --server-pid "${server_pids[$i]}" >"$workdir/idle-$i.md" 2>"$workdir/idle-$i.log" &
  gen_pids+=($!)
done
# Sampled every second while the generators run: the most sockets open at once (all instances),
# and per instance when its first socket opened and when the last one did (the connect time).
peak=0 peak_at=0
first=(0 0 0) full=(0 0 0)
while kill -0 "${gen_pids[@]}" 2>/dev/null; do
  total=0
  for i in 0 1 2; do
    n=$(instance_connections "${ports[$i]}")
    total=$((total + n))
    t=$(($(date +%s) - started))
    [ "$n" -gt 0 ] && [ "${first[$i]}" = 0 ] && first[$i]=$t
    [ "$n" -ge "$per_instance" ] && [ "${full[$i]}" = 0 ] && full[$i]=$t
  done
  [ "$total" -gt "$peak" ] && peak=$total && peak_at=$(($(date +%s) - started))
  sleep 1
done
for pid in "${gen_pids[@]}"; do wait "$pid"; done
echo "scale: peak $peak open WebSockets, $peak_at s after the start" >&2
# Let the 50k closes (and their offline announcements) settle before measuring latency.
for _ in $(seq 120); do
  total=0
  for port in "${ports[@]}"; do total=$((total + $(instance_connections "$port"))); done
  [ "$total" = 0 ] && break
  sleep 1
done

"$bin" bench --url "http://127.0.0.1:${ports[0]}" --url2 "http://127.0.0.1:${ports[1]}" \
  --scenarios latency,cross,group --server-pid "${server_pids[0]},${server_pids[1]}" \
  --pairs 100 --duration 10s --latency-rate "$latency_rate" --groups 50 --group-size 10 \
  | tee "$workdir/cluster-traffic.md" || echo "(the run failed: $(tail -n 1 "$workdir/cluster-traffic.md"))" >&2
# The same 1:1 latency run with two instances on one Redis: the cluster's cost is the difference.
start_server 18194 4 DATABASE_POOL_SIZE=16 REDIS_PREFIX="$run_id:single:"
start_server 18195 5 DATABASE_POOL_SIZE=16 REDIS_PREFIX="$run_id:single:"
"$bin" bench --url http://127.0.0.1:18194 --url2 http://127.0.0.1:18195 --scenarios latency \
  --server-pid "${pids[-2]},${pids[-1]}" \
  --pairs 100 --duration 10s --latency-rate "$latency_rate" | tee "$workdir/single-traffic.md" ||
  echo "(the run failed)" >&2

section=$workdir/section.md
{
  echo "## Scaled out: Redis Cluster, three instances"
  echo
  echo "Written by \`make bench\` (its last step, docker/bench-scale.sh; \`make bench-scale\` runs it alone) on $(date -u +%Y-%m-%d), same machine."
  echo "A Redis Cluster of 3 masters + 3 replicas on loopback, three $profile-build instances on it"
  echo "(sharded pub/sub), and one load-generator process per instance holding $per_instance idle,"
  echo "authenticated WebSockets for $hold (registered, logged in, then connected 32 at a time; each"
  echo "pings on the heartbeat from the moment it connects). Peak open at once, summed over the"
  echo "instances' \`simplechat_ws_connections\`: **$peak**."
  echo
  for i in 0 1 2; do
    echo "Instance $((i + 1)) (its generator's report; connect time is the set-up of its sockets):"
    echo
    sed '/^bench: /d' "$workdir/idle-$i.md"
    echo "Registration and log-in of its users took ${first[$i]} s; connecting all $per_instance then took"
    echo "$((full[$i] - first[$i])) s (from the first socket open to the last, sampled each second)."
    echo
  done
  echo "Cross-instance traffic through the cluster (instances 1 and 2):"
  echo
  sed '/^bench: /d' "$workdir/cluster-traffic.md"
  echo "The same \`latency\` run on two instances sharing one Redis:"
  echo
  sed '/^bench: /d' "$workdir/single-traffic.md"
} >"$section"
# The section stays last in docs/BENCHMARKS.md: replace the previous one (`make bench`, which
# rewrites the rest, keeps it).
touch "$out"
sed -i '/^## Scaled out/,$d' "$out"
cat "$section" >>"$out"
echo "wrote the 'Scaled out' section of $out" >&2
