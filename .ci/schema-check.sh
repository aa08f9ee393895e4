#!/usr/bin/env bash
# platform/database/schema.rs is generated, never edited by hand: this applies platform/migrations
# to a fresh database with diesel_cli (no build needed, so it also works while the code does not
# compile against the old file), runs `diesel print-schema` on it and fails when the committed file
# differs.
# With --write (make schema) it rewrites the file instead.
#
# Installs diesel_cli (Postgres only; needs libpq-dev) when missing.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_require_services
if ! command -v diesel >/dev/null; then
  ci_apt_install libpq-dev
  ci_log "installing diesel_cli"
  cargo install diesel_cli --no-default-features --features postgres --locked --quiet
fi

database='' # set by the call below
ci_new_database database schema
url="$CI_POSTGRES_URL/$database"
psql "$CI_POSTGRES_URL/postgres" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$database\"" >/dev/null ||
  ci_die "create database $database"
# An empty configuration: with the project's, `migration run` would rewrite schema.rs itself.
: >"$ci_tmp/diesel.toml"
diesel migration run --config-file "$ci_tmp/diesel.toml" --migration-dir "$ci_root/platform/migrations" \
  --database-url "$url" >"$ci_tmp/migrate.log" 2>&1 || { cat "$ci_tmp/migrate.log" >&2; ci_die "migrations"; }

generated=$ci_tmp/schema.rs
(cd "$ci_root" && diesel print-schema --database-url "$url" >"$generated")
if [ "${1:-}" = --write ]; then
  cp "$generated" "$ci_root/platform/database/schema.rs"
  ci_log "wrote platform/database/schema.rs"
elif ! diff -u "$ci_root/platform/database/schema.rs" "$generated"; then
  ci_die "platform/database/schema.rs differs from the migrated database: run 'make schema' and commit it"
fi
ci_log "schema.rs matches the migrations"
