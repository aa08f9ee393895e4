#!/usr/bin/env bash
# Restores a backup made by docker/backup.sh into DATABASE_URL's database (created when it does
# not exist) and, with STORAGE_URL=file:///path, the attachments into that directory.
#
#   docker/restore.sh BACKUP_DIR
#
# Refuses a database that already has simplechat's tables unless RESTORE_OVER=1 (then the backed-up
# objects are dropped and recreated: everything written since the backup is lost). Stop the
# servers first, restore, then start them: they apply any migrations newer than the backup on
# start-up (migrations only move forward). Needs pg_restore and psql (postgresql-client).
set -euo pipefail
die() { echo "restore: $*" >&2; exit 1; }

backup=${1:-}
[ -n "$backup" ] && [ -s "$backup/db.dump" ] || die "usage: restore.sh BACKUP_DIR (with db.dump in it)"
if [ -n "${DATABASE_URL_FILE:-}" ]; then
  [ -z "${DATABASE_URL:-}" ] || die "set DATABASE_URL or DATABASE_URL_FILE, not both"
  DATABASE_URL=$(cat "$DATABASE_URL_FILE")
fi
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL (or DATABASE_URL_FILE) is required"
command -v pg_restore >/dev/null && command -v psql >/dev/null ||
  die "pg_restore and psql are missing (apt-get install postgresql-client)"

# The database's name, and the server's maintenance database to create it from.
base=${DATABASE_URL%%\?*}
query=${DATABASE_URL#"$base"}
name=${base##*/}
[ -n "$name" ] && [[ $name =~ ^[A-Za-z0-9_]+$ ]] || die "cannot tell the database name from DATABASE_URL"
maintenance=${base%/*}/postgres$query

exists=$(psql "$maintenance" -qAtX -v ON_ERROR_STOP=1 \
  -c "SELECT 1 FROM pg_database WHERE datname = '$name'") || die "cannot reach Postgres"
if [ "$exists" != 1 ]; then
  psql "$maintenance" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null
  echo "restore: created database $name" >&2
fi
tables=$(psql "$DATABASE_URL" -qAtX -c \
  "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'chat'")
clean=()
if [ "$tables" != 0 ]; then
  [ "${RESTORE_OVER:-}" = 1 ] ||
    die "database $name already has $tables tables in schema chat; set RESTORE_OVER=1 to replace them"
  clean=(--clean --if-exists)
fi
pg_restore --no-owner --no-privileges --exit-on-error "${clean[@]}" --dbname="$DATABASE_URL" \
  "$backup/db.dump" || die "pg_restore failed"
echo "restore: database $name restored from $backup/db.dump" >&2

if [ -s "$backup/attachments.tar.gz" ]; then
  case "${STORAGE_URL:-}" in
    file://*)
      dir=${STORAGE_URL#file://}
      mkdir -p "$dir"
      tar -C "$dir" -xzf "$backup/attachments.tar.gz"
      echo "restore: attachments restored into $dir" >&2
      ;;
    *) echo "restore: the backup has attachments; set STORAGE_URL=file:///dir to restore them" >&2 ;;
  esac
fi
