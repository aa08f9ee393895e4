#!/usr/bin/env bash
# Runs every rest/*.http file top to bottom with httpyac against a fresh server, and fails when any
# request or assertion fails. Each file is one test.
#
# The files take `baseUrl` and `password` from rest/http-client.env.json (environments `dev` and
# `compose`); here each file is run from a copy in a folder whose http-client.env.json has one
# environment, `ci`, pointing at this server (the files themselves are not touched). rest/chatbot.http needs a chatbot provider: the server is
# started with CHATBOT_PROVIDER=openai pointing at .ci/fake_chat_provider.py, and after that file
# the script checks that the provider was asked and that the answer was stored.
#
# Uses the already-built binary (see .ci/lib.sh); installs httpyac with npm under
# ~/.cache/simplechat-ci. Loopback only; cleans up after itself. CI_REST_DIR runs another folder.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_counting http-files

ci_require_services
bin=$(ci_bin)
ci_log "binary: $bin"

# --- httpyac
httpyac_dir=$CI_CACHE_DIR/httpyac
httpyac=$httpyac_dir/node_modules/.bin/httpyac
if ! [ -x "$httpyac" ] || ! "$httpyac" --version >/dev/null 2>&1; then
  command -v npm >/dev/null || ci_die "npm is needed to install httpyac"
  ci_log "installing httpyac with npm into $httpyac_dir"
  mkdir -p "$httpyac_dir"
  timeout 300 npm install --prefix "$httpyac_dir" --no-audit --no-fund --silent 'httpyac@^6' ||
    ci_die "npm install httpyac"
fi
ci_log "httpyac $("$httpyac" --version)"

# --- the fake chatbot provider
provider_port=$(ci_free_port)
provider_log=$ci_tmp/provider-requests.jsonl
: >"$provider_log"
python3 "$ci_root/.ci/fake_chat_provider.py" "$provider_port" "$provider_log" >"$ci_tmp/provider.log" 2>&1 &
ci_pids+=("$!")
for _ in $(seq 1 40); do ci_answers 127.0.0.1 "$provider_port" && break; sleep 0.25; done
ci_answers 127.0.0.1 "$provider_port" || ci_die "the fake chatbot provider did not start"

# --- the server (the files register more people from one address than the hourly limit allows)
port=$(ci_free_port)
database='' prefix='' # set by the two calls below
ci_new_database database http
ci_new_redis_prefix prefix http
ci_start_server simplechat "$port" APP_ENV=prod JWT_SECRET="$(ci_random 48)" BCRYPT_COST=4 \
  DATABASE_URL="$CI_POSTGRES_URL/$database" REDIS_PREFIX="$prefix" DATABASE_POOL_SIZE=4 \
  CHATBOT_PROVIDER=openai OPENAI_BASE_URL="http://127.0.0.1:$provider_port/v1" OPENAI_MODEL=fake \
  CHATBOT_TIMEOUT=5s NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
  RATE_LIMIT_REGISTER_PER_HOUR=100
ci_wait_ready simplechat "$port" "$ci_last_pid"
base_url="http://127.0.0.1:$port"

# After rest/chatbot.http: the provider was asked, and its answer stored as a chatbot message.
chatbot_answered() {
  local stored=0
  for _ in $(seq 1 40); do
    stored=$(psql "$CI_POSTGRES_URL/$database" -qAtX -c \
      "SELECT count(*) FROM chat.messages WHERE sender_id = '00000000-0000-0000-0000-0000000000b0'")
    [ "$stored" -ge 1 ] && [ -s "$provider_log" ] && break
    sleep 0.25
  done
  ci_log "chatbot: the fake provider got $(wc -l <"$provider_log") request(s); $stored answer(s) stored"
  [ "$stored" -ge 1 ] && [ -s "$provider_log" ]
}

# --- every file
mkdir -p "$ci_tmp/rest"
password=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dev"]["password"])' \
  "$ci_root/rest/http-client.env.json")
printf '{"ci": {"baseUrl": "%s", "password": "%s"}}\n' "$base_url" "$password" \
  >"$ci_tmp/rest/http-client.env.json"
shopt -s nullglob
rest_dir=${CI_REST_DIR:-$ci_root/rest}
files=("$rest_dir"/*.http)
[ "${#files[@]}" -gt 0 ] || ci_die "no .http files in $rest_dir"
for file in "${files[@]}"; do
  name=$(basename "$file")
  copy=$ci_tmp/rest/$name
  if grep -q '^@baseUrl *=' "$file"; then
    ci_log "FAIL $name: set baseUrl in rest/http-client.env.json, not in the file"
    failed=$((failed + 1))
    continue
  fi
  cp "$file" "$copy"
  ok=1
  (cd "$ci_tmp/rest" && timeout 120 "$httpyac" send --env ci --all --bail --no-color \
    -o none --output-failed exchange --timeout 15000 "$name") >"$ci_tmp/rest/$name.out" 2>&1 || ok=
  summary=$(grep -E 'requests? processed' "$ci_tmp/rest/$name.out" | tail -n 1 || true)
  if [ -n "$ok" ] && [ "$name" = chatbot.http ] && ! chatbot_answered; then
    summary="$summary; but no chatbot answer was stored"
    ok=
  fi
  if [ -n "$ok" ]; then
    ci_log "pass $name: ${summary:-?}"
    passed=$((passed + 1))
  else
    cat "$ci_tmp/rest/$name.out" >&2
    ci_log "FAIL $name: ${summary:-httpyac did not finish (output above)}"
    failed=$((failed + 1))
  fi
done
[ "$failed" = 0 ]
