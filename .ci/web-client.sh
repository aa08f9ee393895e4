#!/usr/bin/env bash
# The web client (GET /) in headless Chromium: two users chat in two browser contexts, through a
# reload, a closed browser and a server restart, and pages on two other local ports check the
# cross-origin rules (CORS_ALLOWED_ORIGINS); then every feature of the page (edits, deletes,
# replies, reactions, search, blocks, group roles, keyboard use) and an axe-core accessibility
# scan, then the v1.2 features (attachments, mute, account panel, bans, receipts across reloads).
# The steps are in .ci/web_client_test.py.
#
# Uses the already-built binary (see .ci/lib.sh); installs Debian's chromium when missing and
# Playwright for Python into a venv under $CI_CACHE_DIR (Playwright drives the system chromium: it
# cannot download a browser of its own here), and axe-core from npm under $CI_CACHE_DIR/axe (the
# test injects it into a context of its own; the page itself never loads it). Loopback only;
# cleans up after itself.
#
# WEB_CLIENT_SCREENSHOT=docs/web-client.png also saves a screenshot of a conversation there, and
# of the main views next to it (web-client-menu.png, -search, -group, -desktop, -phone).
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_counting web-client

ci_require_services
bin=$(ci_bin)
ci_log "binary: $bin"

chromium=$(ci_chromium)

venv=$CI_CACHE_DIR/venv-playwright
if ! "$venv/bin/python" -c 'import playwright.sync_api' 2>/dev/null; then
  ci_log "installing Playwright for Python into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check --timeout 60 'playwright>=1.40' ||
    ci_die "pip install playwright"
fi

axe_dir=$CI_CACHE_DIR/axe
axe=$axe_dir/node_modules/axe-core/axe.min.js
if [ ! -f "$axe" ]; then
  command -v npm >/dev/null || ci_apt_install npm >&2
  ci_log "installing axe-core into $axe_dir"
  mkdir -p "$axe_dir"
  (cd "$axe_dir" && timeout 300 npm install --no-audit --no-fund --silent 'axe-core@4') ||
    ci_die "npm install axe-core"
fi

port=$(ci_free_port)
cors_port=$(ci_free_port)
other_port=$(ci_free_port)
provider_port=$(ci_free_port)
database='' prefix='' # set by the two calls below
ci_new_database database web
ci_new_redis_prefix prefix web

# The chatbot's provider: the stand-in that .ci/http-files.sh uses too.
python3 "$ci_root/.ci/fake_chat_provider.py" "$provider_port" "$ci_tmp/provider-requests.jsonl" \
  >"$ci_tmp/provider.log" 2>&1 &
ci_pids+=("$!")
for _ in $(seq 1 40); do ci_answers 127.0.0.1 "$provider_port" && break; sleep 0.25; done
ci_answers 127.0.0.1 "$provider_port" || ci_die "the fake chatbot provider did not start"

screenshot=()
if [ -n "${WEB_CLIENT_SCREENSHOT:-}" ]; then
  # Reactions are emoji: without a colour emoji font they would show as boxes in the pictures.
  [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || ci_apt_install fonts-noto-color-emoji >&2
  screenshot=(--screenshot "$(cd "$(dirname "$WEB_CLIENT_SCREENSHOT")" && pwd)/$(basename "$WEB_CLIENT_SCREENSHOT")")
fi

# The test starts the server itself (one step restarts it), with these settings. BCRYPT_COST=4
# keeps the logins quick; the listed origin is the first extra port, the second is not listed.
ci_log "chatting in headless Chromium against 127.0.0.1:$port (log $ci_tmp/simplechat.log)"
if env APP_ENV=prod JWT_SECRET="$(ci_random 48)" DATABASE_URL="$CI_POSTGRES_URL/$database" \
  REDIS_URL="$CI_REDIS_URL" REDIS_PREFIX="$prefix" DATABASE_POOL_SIZE=4 BCRYPT_COST=4 \
  RUST_LOG="${CI_RUST_LOG:-info}" CORS_ALLOWED_ORIGINS="http://127.0.0.1:$cors_port" \
  CHATBOT_PROVIDER=openai OPENAI_BASE_URL="http://127.0.0.1:$provider_port/v1" \
  timeout 360 "$venv/bin/python" "$ci_root/.ci/web_client_test.py" --bin "$bin" --port "$port" \
  --cors-port "$cors_port" --other-port "$other_port" --chromium "$chromium" \
  --workdir "$ci_tmp" --axe "$axe" "${screenshot[@]}"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
