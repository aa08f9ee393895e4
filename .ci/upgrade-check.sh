#!/usr/bin/env bash
# The rolling-upgrade check (docs/deployment.md, "Migrations: expand, then contract"): the
# previous release's binary must keep working on a database that the new binary has migrated,
# because during a rolling upgrade old and new instances serve side by side.
#
#   1. build the previous release: the newest tag reachable from HEAD's first parent, else the
#      commit just before the newest change to platform/migrations (the last build that ran on
#      the old schema); UPGRADE_BASE=<rev> overrides;
#   2. the new binary migrates a fresh database;
#   3. the old binary starts on it and passes the smoke test (.ci/chat_history.py: register,
#      contacts, messages, history, login again), while a new instance runs beside it and reads
#      what the old one wrote.
#
# Bounded and cache-friendly: skipped when no migration changed since the base (nothing to
# check; UPGRADE_CHECK_FORCE=1 runs it anyway); the old tree is built in its own target
# directory whose compiled dependencies are hard links into $CARGO_TARGET_DIR's (so only the
# simplechat crate itself is compiled, unless the dependencies changed), with a 25-minute limit.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
ci_counting upgrade-check
cd "$ci_root"

base=${UPGRADE_BASE:-}
if [ -z "$base" ]; then
  git rev-parse --verify -q HEAD^1 >/dev/null || { ci_log "no previous commit: nothing to check"; exit 0; }
  base=$(git describe --tags --abbrev=0 HEAD^1 2>/dev/null ||
    git rev-parse "$(git log -1 --format=%H -- platform/migrations)^")
fi
base_commit=$(git rev-parse --verify "$base^{commit}") || ci_die "cannot resolve $base"
if [ -z "${UPGRADE_CHECK_FORCE:-}" ] && git diff --quiet "$base_commit" HEAD -- platform/migrations; then
  ci_log "no migration changed since $base ($base_commit): the schema is the previous release's; skipped"
  exit 0
fi
if git diff --name-only --diff-filter=DMR "$base_commit" HEAD -- platform/migrations | grep -q .; then
  ci_log "FAILED: a released migration was changed, renamed or deleted since $base; add a new one instead:"
  git diff --name-status --diff-filter=DMR "$base_commit" HEAD -- platform/migrations >&2
  exit 1
fi
ci_require_services
new_bin=$(ci_bin)

# --- the previous release's binary
shared_target=${CARGO_TARGET_DIR:-$HOME/.cache/simplechat-target}
old_target=${UPGRADE_TARGET_DIR:-$HOME/.cache/simplechat-upgrade-target}
if [ -d "$shared_target/debug/deps" ]; then
  mkdir -p "$old_target/debug"
  # Hard links to the compiled dependencies; never the simplechat crate's own files, and never
  # the lock file (a shared inode would make the two directories wait on each other).
  for sub in deps build .fingerprint; do
    [ -d "$shared_target/debug/$sub" ] || continue
    mkdir -p "$old_target/debug/$sub"
    find "$shared_target/debug/$sub" -mindepth 1 -maxdepth 1 \
      ! -name 'simplechat*' ! -name 'libsimplechat*' ! -name 'api-*' -print0 |
      xargs -0 -r cp -al --no-clobber -t "$old_target/debug/$sub/" 2>/dev/null || true
  done
fi
tree=$ci_tmp/previous
git worktree add --detach -f "$tree" "$base_commit" >/dev/null 2>&1 || ci_die "git worktree add $base_commit"
cleanup_tree() { git -C "$ci_root" worktree remove --force "$tree" 2>/dev/null || true; }
trap 'cleanup_tree; ci_cleanup' EXIT
ci_log "building the previous release $base ($base_commit) in $old_target"
(cd "$tree" && CARGO_TARGET_DIR=$old_target timeout 1500 nice cargo build --quiet --locked --bin simplechat) ||
  ci_die "building $base failed"
old_bin=$ci_tmp/simplechat-previous
cp "$old_target/debug/simplechat" "$old_bin"
cleanup_tree

# --- the new binary migrates; the old one serves on that schema, beside a new one
database='' prefix=''
ci_new_database database upgrade
ci_new_redis_prefix prefix upgrade
secret=$(ci_random 48)
common=(APP_ENV=prod DATABASE_URL="$CI_POSTGRES_URL/$database" REDIS_PREFIX="$prefix"
  JWT_SECRET="$secret" DATABASE_POOL_SIZE=2 BCRYPT_COST=4)
env "${common[@]}" "$new_bin" migrate >"$ci_tmp/migrate.log" 2>&1 ||
  { cat "$ci_tmp/migrate.log" >&2; ci_die "the new binary's migrate failed"; }
ci_log "the new binary migrated $database"

port_old=$(ci_free_port)
SIMPLECHAT_BIN=$old_bin ci_start_server previous "$port_old" "${common[@]}" MACHINE_ID=1
pid_old=$ci_last_pid
ci_wait_ready previous "$port_old" "$pid_old"
port_new=$(ci_free_port)
ci_start_server current "$port_new" "${common[@]}" MACHINE_ID=2
pid_new=$ci_last_pid
ci_wait_ready current "$port_new" "$pid_new"

state=$ci_tmp/history.json
if python3 .ci/chat_history.py seed --base "http://127.0.0.1:$port_old" --state "$state" &&
  python3 .ci/chat_history.py verify --base "http://127.0.0.1:$port_old" --state "$state"; then
  ci_log "the previous release works on the new schema"
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
if python3 .ci/chat_history.py seed --base "http://127.0.0.1:$port_old" --state "$state.2" &&
  python3 .ci/chat_history.py verify --base "http://127.0.0.1:$port_new" --state "$state.2"; then
  ci_log "the new release reads what the previous one wrote, side by side"
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
