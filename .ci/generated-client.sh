#!/usr/bin/env bash
# Generates clients from docs/openapi.json and drives a fresh server through them:
# - Python, with openapi-python-client (.ci/generated_client.py: register → login → contacts →
#   group → messages → history → conversations, and every other operation). Fails when generation
#   warns, or when any response is one the generated code cannot parse or is not what the document
#   promises.
# - TypeScript, with openapi-typescript types and openapi-fetch (.ci/generated_client.ts, the same
#   walk in short): `tsc` type-checks it against the generated types, then node runs it.
#
# Uses the already-built binary (see .ci/lib.sh); installs openapi-python-client with pip into a
# venv, and the TypeScript tools with npm, under ~/.cache/simplechat-ci. Loopback only; cleans up
# after itself.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_counting generated-client

ci_require_services
bin=$(ci_bin)
ci_log "binary: $bin"

# --- openapi-python-client
venv=$CI_CACHE_DIR/venv-client
generator=$venv/bin/openapi-python-client
if ! "$generator" --version >/dev/null 2>&1; then
  ci_log "installing openapi-python-client with pip into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check 'openapi-python-client>=0.21,<1' ||
    ci_die "pip install openapi-python-client"
fi
ci_log "$("$generator" --version)"

# --- the client; no post hooks (they would run ruff, which is not installed), so any warning is
# about the document itself.
echo '{"post_hooks": []}' >"$ci_tmp/generator-config.json"
(cd "$ci_tmp" && timeout 120 "$generator" generate --path "$ci_root/docs/openapi.json" --meta none \
  --output-path "$ci_tmp/client/simplechat_client" --config "$ci_tmp/generator-config.json" \
  --fail-on-warning) >"$ci_tmp/generate.log" 2>&1 || {
  cat "$ci_tmp/generate.log" >&2
  ci_die "openapi-python-client could not generate a client from docs/openapi.json"
}
ci_log "generated $(find "$ci_tmp/client" -name '*.py' | wc -l) Python files"

# --- the server
port=$(ci_free_port)
database='' prefix='' # set by the two calls below
ci_new_database database client
ci_new_redis_prefix prefix client
ci_start_server simplechat "$port" APP_ENV=prod JWT_SECRET="$(ci_random 48)" BCRYPT_COST=4 \
  DATABASE_URL="$CI_POSTGRES_URL/$database" REDIS_PREFIX="$prefix" DATABASE_POOL_SIZE=4
ci_wait_ready simplechat "$port" "$ci_last_pid"

# --- the Python run
if PYTHONPATH="$ci_tmp/client" timeout 120 "$venv/bin/python" "$ci_root/.ci/generated_client.py" \
  "http://127.0.0.1:$port" >"$ci_tmp/client.out" 2>&1; then
  cat "$ci_tmp/client.out" >&2
  passed=$((passed + 1))
else
  cat "$ci_tmp/client.out" >&2
  ci_log "FAIL the generated Python client"
  failed=$((failed + 1))
fi

# --- the TypeScript run
ts_tools=$CI_CACHE_DIR/ts-client
if ! [ -x "$ts_tools/node_modules/.bin/tsc" ] || ! [ -x "$ts_tools/node_modules/.bin/openapi-typescript" ] ||
  ! [ -d "$ts_tools/node_modules/openapi-fetch" ] || ! [ -d "$ts_tools/node_modules/@types/node" ]; then
  command -v npm >/dev/null || ci_die "npm is needed to install the TypeScript tools"
  ci_log "installing openapi-typescript, openapi-fetch and typescript with npm into $ts_tools"
  mkdir -p "$ts_tools"
  timeout 300 npm install --prefix "$ts_tools" --no-audit --no-fund --silent \
    'openapi-typescript@^7' 'openapi-fetch@^0.13' 'typescript@^5' '@types/node@^20' ||
    ci_die "npm install the TypeScript tools"
fi
ts=$ci_tmp/ts
mkdir -p "$ts"
ln -s "$ts_tools/node_modules" "$ts/node_modules"
echo '{"type": "module"}' >"$ts/package.json"
cp "$ci_root/.ci/generated_client.ts" "$ts/"
cat >"$ts/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "es2022", "module": "nodenext", "moduleResolution": "nodenext", "strict": true,
    "skipLibCheck": true, "types": ["node"], "lib": ["es2022", "dom"], "outDir": "out"
  },
  "files": ["generated_client.ts"]
}
JSON
if (cd "$ts" && timeout 60 node_modules/.bin/openapi-typescript "$ci_root/docs/openapi.json" \
  -o schema.d.ts && timeout 120 node_modules/.bin/tsc -p tsconfig.json &&
  timeout 120 node out/generated_client.js "http://127.0.0.1:$port") >"$ci_tmp/ts.out" 2>&1; then
  tail -n 1 "$ci_tmp/ts.out" >&2
  passed=$((passed + 1))
else
  cat "$ci_tmp/ts.out" >&2
  ci_log "FAIL the generated TypeScript client"
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
