# Sourced by docker/bench-compare.sh and docker/instructions.sh, which measure this build beside
# an older one (and by docker/bench-growth.sh, for `end_run` alone). `prepare_builds` puts both
# binaries in $workdir (copies: a build started meanwhile must not swap a binary under a running
# measurement): `current` (CURRENT_BIN, or this tree's release build) and `baseline`
# (BASELINE_BIN, or BASELINE_REF built in a worktree under .bench-baseline/ with a target folder
# of its own; older builds had no `clients` feature, their load generator was always built in).
# It sets $current_label, makes sure Postgres and Redis answer, and ends every run and removes
# $workdir when the script exits. `end_run` stops the servers in $pids (waiting for them to exit:
# callgrind writes its counts as a process ends) and drops the database and Redis keys of
# $run_id.

prepare_builds() {
  local target_dir
  target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
  current_label=${CURRENT_LABEL:-$(git rev-parse --short HEAD)}
  if [ -n "${CURRENT_BIN:-}" ]; then
    cp "$CURRENT_BIN" "$workdir/current"
  else
    cargo build --release --quiet --features clients --bin simplechat
    cp "$target_dir/release/simplechat" "$workdir/current"
  fi
  if [ -n "${BASELINE_BIN:-}" ]; then
    cp "$BASELINE_BIN" "$workdir/baseline"
  else
    local tree=.bench-baseline/$baseline_ref
    [ -d "$tree" ] || git worktree add --detach "$tree" "$baseline_ref" >/dev/null
    (cd "$tree" && CARGO_TARGET_DIR="$target_dir-baseline" cargo build --release --quiet --bin simplechat)
    cp "$target_dir-baseline/release/simplechat" "$workdir/baseline"
  fi
  docker/dev-services.sh
  pids=()
  run_id=
  trap 'end_run; rm -rf "$workdir"' EXIT
}

end_run() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
  if [ -n "${run_id:-}" ]; then
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS \"$run_id\" WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli -h 127.0.0.1 --scan --pattern "$run_id:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  fi
  run_id=
}
