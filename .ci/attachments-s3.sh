#!/usr/bin/env bash
# The attachment tests against a real S3-compatible server: tests/api/attachments/ starts a
# `moto_server` (PyPI: moto[server]) on a free loopback port for each test and points the server
# under test at a bucket on it. `make test` runs these too when moto_server is on PATH and skips
# them (saying so) when it is not; here moto is installed first and a missing one is a failure
# (SIMPLECHAT_S3_TESTS=required).
#
# Installs moto into a virtualenv under ~/.cache/simplechat-ci unless `moto_server` already runs.
set -euo pipefail
cd "$(dirname "$0")/.."

CI_CACHE_DIR=${CI_CACHE_DIR:-$HOME/.cache/simplechat-ci}
moto=${MOTO_SERVER:-}
if [ -z "$moto" ]; then
  if command -v moto_server >/dev/null && moto_server --help >/dev/null 2>&1; then
    moto=$(command -v moto_server)
  else
    venv=$CI_CACHE_DIR/moto
    if ! [ -x "$venv/bin/moto_server" ]; then
      echo "installing moto[server] into $venv" >&2
      python3 -m venv "$venv"
      "$venv/bin/pip" install --quiet 'moto[server]>=5,<6'
    fi
    moto=$venv/bin/moto_server
  fi
fi
echo "moto_server: $moto" >&2

export MOTO_SERVER=$moto SIMPLECHAT_S3_TESTS=required
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
cargo test --features clients --test api -- attachments::s3_store::
