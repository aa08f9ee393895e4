#!/usr/bin/env bash
# A local Redis Cluster on loopback for tests and benchmarks: three masters with one replica each
# (ports REDIS_CLUSTER_PORT .. +5, default 7000–7005; each node's cluster bus is its port + 10000).
#
#   docker/redis-cluster.sh start   # starts the six nodes, creates the cluster, waits until it is ok
#   docker/redis-cluster.sh stop    # stops them and removes their data
#   docker/redis-cluster.sh nodes   # prints the seed nodes, for REDIS_CLUSTER_NODES
#
# Needs redis-server and redis-cli 7 or newer (sharded pub/sub). Node data lives under
# REDIS_CLUSTER_DIR (default: a folder in the system's temporary directory).
set -euo pipefail

BASE_PORT="${REDIS_CLUSTER_PORT:-7000}"
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/simplechat-redis-cluster-$BASE_PORT}"
# How long a master may be silent before its replica takes over: short, so a failover in the
# fault suite takes seconds, long enough that a busy CI machine does not trigger one by itself.
NODE_TIMEOUT_MS="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-2000}"
PORTS=$(seq "$BASE_PORT" $((BASE_PORT + 5)))

nodes() {
  local list=""
  for port in $PORTS; do list+="127.0.0.1:$port,"; done
  echo "${list%,}"
}

cluster_ok() {
  redis-cli -p "$BASE_PORT" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

# Every node must agree that the cluster is ok and know all six nodes.
all_agree() {
  for port in $PORTS; do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    [ "$(redis-cli -p "$port" cluster nodes 2>/dev/null | wc -l)" -eq 6 ] || return 1
  done
}

start() {
  if cluster_ok; then
    echo "Redis Cluster already running: $(nodes)"
    return
  fi
  mkdir -p "$DIR"
  for port in $PORTS; do
    mkdir -p "$DIR/$port"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
      --cluster-enabled yes --cluster-config-file "$DIR/$port/nodes.conf" \
      --cluster-node-timeout "$NODE_TIMEOUT_MS" --appendonly yes --appendfsync everysec \
      --save "" --dir "$DIR/$port" --pidfile "$DIR/$port/redis.pid" \
      --logfile "$DIR/$port/redis.log"
  done
  for port in $PORTS; do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local addresses=()
  for port in $PORTS; do addresses+=("127.0.0.1:$port"); done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
  for _ in $(seq 300); do
    all_agree && { echo "Redis Cluster ok: $(nodes)"; return; }
    sleep 0.1
  done
  echo "Redis Cluster did not become ok in 30 s; see $DIR/*/redis.log" >&2
  exit 1
}

stop() {
  for port in $PORTS; do
    local pidfile="$DIR/$port/redis.pid"
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
  done
  for port in $PORTS; do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 || break; sleep 0.1; done
  done
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  nodes) nodes ;;
  *) echo "usage: $0 start|stop|nodes" >&2; exit 2 ;;
esac
