#!/usr/bin/env bash
# Removes what `make run` stored: drops the database named in DATABASE_URL and deletes the Redis
# keys under REDIS_PREFIX (read like the server does: the environment, else .env, else the
# defaults). The next `make run` starts from nothing. Used by `make clean-data`.
set -euo pipefail

# shellcheck source=docker/settings.sh
source "$(dirname "$0")/settings.sh"

database=${database_url##*/}
database=${database%%\?*}
server_url=${database_url%/*}/postgres
case $database in
  '' | postgres | template0 | template1) echo "refusing to drop database '$database'" >&2; exit 1 ;;
esac
psql "$server_url" -v ON_ERROR_STOP=1 -q -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)"
echo "dropped database $database (if it existed)"

deleted=0
while IFS= read -r key; do
  [ -n "$key" ] || continue
  redis-cli -u "$redis_url" DEL "$key" >/dev/null
  deleted=$((deleted + 1))
done < <(redis-cli -u "$redis_url" --scan --pattern "${redis_prefix}*")
echo "deleted $deleted Redis keys under '$redis_prefix'"
