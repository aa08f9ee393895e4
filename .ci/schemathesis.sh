#!/usr/bin/env bash
# Fuzzes the REST API with schemathesis, driven by docs/openapi.json, against a fresh server, and
# fails on any 5xx, any response the document does not describe (status, headers, body schema),
# any error body not in the `{code, message}` shape, and any input the document calls valid that
# the server refuses (or the other way round).
#
# Authenticated as a fixture user (registered and logged in first); `logout` is left out because it
# would revoke that user's token halfway through. Bounded and repeatable: a fixed number of
# examples per operation, a fixed seed, no example database carried between runs, one worker.
# CI_SCHEMATHESIS_EXAMPLES and CI_SCHEMATHESIS_SEED override the two numbers. The stateful phase
# is left out: the document declares no links between operations for it to follow.
#
# Uses the already-built binary (see .ci/lib.sh); installs schemathesis with pip into a venv under
# ~/.cache/simplechat-ci. Loopback only; cleans up after itself.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_counting schemathesis

ci_require_services
bin=$(ci_bin)
ci_log "binary: $bin"

# --- schemathesis (the 4.x command line: `run --max-examples --seed`)
venv=$CI_CACHE_DIR/venv-schemathesis
st=$venv/bin/schemathesis
if ! "$st" --version 2>/dev/null | grep -q 'version 4\.'; then
  ci_log "installing schemathesis with pip into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4.1,<5' ||
    ci_die "pip install schemathesis"
fi
ci_log "$("$st" --version)"

# --- the server
port=$(ci_free_port)
database='' prefix='' # set by the two calls below
ci_new_database database fuzz
ci_new_redis_prefix prefix fuzz
# Rate limits off: the fuzzer registers and logs in far faster than any person.
ci_start_server simplechat "$port" APP_ENV=prod JWT_SECRET="$(ci_random 48)" BCRYPT_COST=4 \
  DATABASE_URL="$CI_POSTGRES_URL/$database" REDIS_PREFIX="$prefix" DATABASE_POOL_SIZE=4 \
  RATE_LIMIT_LOGIN_FAILURES=0 RATE_LIMIT_LOGIN_PER_MIN=0 RATE_LIMIT_REGISTER_PER_HOUR=0 \
  RATE_LIMIT_EXPORT_PER_MIN=0 RATE_LIMIT_REST_PER_MIN=0 RATE_LIMIT_EXPENSIVE_CONCURRENCY=0
ci_wait_ready simplechat "$port" "$ci_last_pid"
base_url="http://127.0.0.1:$port"

# --- the fixture user
username="fuzz_$(ci_random 8)"
password=$(ci_random 16)
credentials="{\"username\":\"$username\",\"password\":\"$password\"}"
curl -fsS -m 10 -H 'content-type: application/json' -d "$credentials" \
  "$base_url/api/v1/auth/register" -o /dev/null || ci_die "register the fixture user"
token=$(curl -fsS -m 10 -H 'content-type: application/json' -d "$credentials" \
  "$base_url/api/v1/auth/login" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') ||
  ci_die "log the fixture user in"

# --- the run
examples=${CI_SCHEMATHESIS_EXAMPLES:-50}
seed=${CI_SCHEMATHESIS_SEED:-20261202}
ci_log "schemathesis: every check, $examples examples per operation, seed $seed"
ok=1
(cd "$ci_tmp" && timeout 600 "$st" --config-file "$ci_root/.ci/schemathesis.toml" \
  run "$ci_root/docs/openapi.json" --url "$base_url" \
  --header "Authorization: Bearer $token" \
  --exclude-path /api/v1/auth/logout \
  --phases examples,coverage,fuzzing \
  --max-examples "$examples" --seed "$seed" --generation-database none \
  --workers 1 --request-timeout 10 \
  --no-color --output-truncate false) >"$ci_tmp/schemathesis.out" 2>&1 || ok=
# The `{code, message}` shape of errors is in the document (every error response references
# ErrorBody), so response_schema_conformance checks it along with everything else.
if [ -n "$ok" ]; then
  tail -n 15 "$ci_tmp/schemathesis.out" >&2
  passed=$((passed + 1))
else
  cat "$ci_tmp/schemathesis.out" >&2
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
