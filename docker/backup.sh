#!/usr/bin/env bash
# Backs up what simplechat cannot rebuild: the Postgres database (pg_dump's custom format, which
# pg_restore can restore whole or in part) and, when attachments are stored on a local disk
# (STORAGE_URL=file:///path), that directory. Redis is not backed up: it holds only short-lived
# state (WebSocket tickets, presence, machine-id leases, rate-limit counters, pub/sub) that the
# servers rebuild on their own; an empty Redis costs users at most a reconnect. Objects in an S3
# bucket are left to the bucket's own versioning or replication.
#
#   docker/backup.sh [DIR]        default DIR ./backups
#
# Settings as the server reads them: DATABASE_URL (or DATABASE_URL_FILE), STORAGE_URL (optional).
# Writes DIR/simplechat-<UTC time>/ with db.dump, attachments.tar.gz (if any) and MANIFEST, and
# prints that directory's path. Safe while the servers run: pg_dump reads one consistent snapshot.
# Restore with docker/restore.sh. Needs pg_dump (postgresql-client) of the server's major version
# or newer.
set -euo pipefail
die() { echo "backup: $*" >&2; exit 1; }

if [ -n "${DATABASE_URL_FILE:-}" ]; then
  [ -z "${DATABASE_URL:-}" ] || die "set DATABASE_URL or DATABASE_URL_FILE, not both"
  DATABASE_URL=$(cat "$DATABASE_URL_FILE")
fi
[ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL (or DATABASE_URL_FILE) is required"
command -v pg_dump >/dev/null || die "pg_dump is missing (apt-get install postgresql-client)"

root=${1:-./backups}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$root/simplechat-$stamp
mkdir -p "$out"
umask 077

# No owners or grants: the dump restores into a database owned by whichever role restores it.
pg_dump --format=custom --no-owner --no-privileges --file="$out/db.dump" "$DATABASE_URL" ||
  die "pg_dump failed"

attachments=none
case "${STORAGE_URL:-}" in
  file://*)
    dir=${STORAGE_URL#file://}
    [ -d "$dir" ] || die "STORAGE_URL names $dir, which is not a directory"
    tar -C "$dir" -czf "$out/attachments.tar.gz" .
    attachments=attachments.tar.gz
    ;;
  "") ;;
  *) echo "backup: STORAGE_URL is not file://; back the object store up with its own tools" >&2 ;;
esac

{
  echo "created_utc=$stamp"
  echo "database=$(pg_restore --list "$out/db.dump" | sed -n 's/^;[[:space:]]*[Dd]bname: //p')"
  echo "database_dump=db.dump"
  echo "attachments=$attachments"
  echo "migration=$(psql "$DATABASE_URL" -qAtX -c \
    "SELECT max(version) FROM __diesel_schema_migrations" 2>/dev/null || echo unknown)"
} >"$out/MANIFEST"
echo "$out"
