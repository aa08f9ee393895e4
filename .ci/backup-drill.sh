#!/usr/bin/env bash
# The restore drill: a server on a database of its own (never another's) gets a conversation;
# docker/backup.sh backs the database and a file:// attachments directory up; the database is
# dropped and the directory emptied; docker/restore.sh brings both back; a server on the restored
# database serves the same history, message for message, and goes on from it.
# Uses the already-built binary (.ci/lib.sh); pg_dump/pg_restore/psql from postgresql-client.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"
ci_counting backup-drill
ci_require_services
command -v pg_dump >/dev/null && command -v pg_restore >/dev/null || ci_apt_install postgresql-client

database='' prefix=''
ci_new_database database drill
ci_new_redis_prefix prefix drill
db_url=$CI_POSTGRES_URL/$database
storage=$ci_tmp/attachments
mkdir -p "$storage/ab"
head -c 4096 /dev/urandom >"$storage/ab/attachment-1"
sum_before=$(cd "$storage" && find . -type f -exec sha256sum {} + | sort)
env_common=(APP_ENV=prod DATABASE_URL="$db_url" REDIS_PREFIX="$prefix" JWT_SECRET="$(ci_random 48)"
  DATABASE_POOL_SIZE=2 BCRYPT_COST=4 STORAGE_URL="file://$storage")

port=$(ci_free_port)
ci_start_server drill-before "$port" "${env_common[@]}"
pid=$ci_last_pid
ci_wait_ready drill-before "$port" "$pid"
python3 "$ci_root/.ci/chat_history.py" seed --base "http://127.0.0.1:$port" --state "$ci_tmp/history.json"
ci_stop_pid "$pid"

backup=$(DATABASE_URL=$db_url STORAGE_URL="file://$storage" bash "$ci_root/docker/backup.sh" "$ci_tmp/backups")
ci_log "backup in $backup: $(tr '\n' ' ' <"$backup/MANIFEST")"
psql "$CI_POSTGRES_URL/postgres" -qAtX -v ON_ERROR_STOP=1 -c "DROP DATABASE \"$database\" WITH (FORCE)"
rm -rf "$storage"
ci_log "dropped database $database and removed $storage"

DATABASE_URL=$db_url STORAGE_URL="file://$storage" bash "$ci_root/docker/restore.sh" "$backup"
if DATABASE_URL=$db_url bash "$ci_root/docker/restore.sh" "$backup" 2>"$ci_tmp/again.err"; then
  ci_log "FAILED: restoring over a database that has data must be refused"
  failed=$((failed + 1))
else
  ci_log "restoring over live data is refused: $(cat "$ci_tmp/again.err")"
  passed=$((passed + 1))
fi
sum_after=$(cd "$storage" && find . -type f -exec sha256sum {} + | sort)
if [ "$sum_before" = "$sum_after" ]; then
  ci_log "attachments directory restored byte for byte"
  passed=$((passed + 1))
else
  ci_log "FAILED: attachments differ after the restore"
  failed=$((failed + 1))
fi

port=$(ci_free_port)
ci_start_server drill-after "$port" "${env_common[@]}"
pid=$ci_last_pid
ci_wait_ready drill-after "$port" "$pid"
if python3 "$ci_root/.ci/chat_history.py" verify --base "http://127.0.0.1:$port" --state "$ci_tmp/history.json"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
