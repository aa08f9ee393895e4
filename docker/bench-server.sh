# Sourced by docker/bench.sh and docker/profile.sh: `start_server PORT MACHINE_ID [KEY=VALUE ...]`
# starts a simplechat instance with the bench's settings on 127.0.0.1:PORT and waits until it is
# ready. Reads $bin, $database_url, $run_id and $workdir; appends the server's pid to $pids.

# Bench settings: cheap bcrypt (only the set-up logs in) with room for its bursts of sign-ups, no
# send-rate limit, no auth rate limits (every user signs up from loopback), deeper queues, no
# drain on stop (no balancer to drain from).
start_server() { # port machine_id [KEY=VALUE ...]: the extra settings win
  local port=$1 machine_id=$2
  shift 2
  env APP_ENV=prod JWT_SECRET=bench-secret-0123456789abcdef0123456789 \
    LISTEN_ADDR="127.0.0.1:$port" MACHINE_ID="$machine_id" DATABASE_URL="$database_url" \
    DATABASE_POOL_SIZE=32 REDIS_URL=redis://127.0.0.1:6379 REDIS_PREFIX="$run_id:" \
    BCRYPT_COST=4 BCRYPT_QUEUE=4096 \
    RATE_LIMIT_LOGIN_FAILURES=0 RATE_LIMIT_LOGIN_PER_MIN=0 RATE_LIMIT_REGISTER_PER_HOUR=0 \
    RATE_LIMIT_REFRESH_PER_MIN=0 RATE_LIMIT_WS_TICKET_PER_MIN=0 \
    RATE_LIMIT_REST_PER_MIN=0 RATE_LIMIT_EXPENSIVE_CONCURRENCY=0 \
    WS_SEND_RATE=1000000 WS_OUTBOUND_QUEUE=4096 SHUTDOWN_DRAIN=0s RUST_LOG=warn \
    STORAGE_URL="file://$workdir/attachments" "$@" \
    "$bin" serve >"$workdir/server-$port.log" 2>&1 &
  pids+=($!)
  # READY_TRIES: tenths of a second to wait for /readyz (a server under valgrind starts slowly).
  for _ in $(seq 1 "${READY_TRIES:-100}"); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $port did not start:" >&2; cat "$workdir/server-$port.log" >&2; return 1
}

# meter_processes: sets $meter to the load generator's flags naming the local Postgres' and Redis'
# process ids, for the CPU columns (each left out when it cannot be found). Postgres' main process
# is its checkpointer's parent; its backends are its children.
meter_processes() {
  local checkpointer postgres_pid redis_pid
  checkpointer=$(psql -h 127.0.0.1 -U postgres -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" || true)
  postgres_pid=$(ps -o ppid= -p "${checkpointer:-0}" 2>/dev/null | tr -d ' ' || true)
  redis_pid=$(redis-cli -h 127.0.0.1 info server | awk -F: '/^process_id/ { print $2 }' | tr -d '\r' || true)
  meter=()
  if [ -n "$postgres_pid" ]; then meter+=(--postgres-pid "$postgres_pid"); fi
  if [ -n "$redis_pid" ]; then meter+=(--redis-pid "$redis_pid"); fi
}
