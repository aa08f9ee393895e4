#!/usr/bin/env bash
# Loads the Swagger UI (GET /swagger) of a fresh server in headless Chromium and checks that the
# page, once its JavaScript has run, lists every path of /openapi.json as an operation.
#
# The page's HTML already carries the spec as a JS literal, so finding "/api/v1/..." in the raw page
# proves nothing: the check looks for the elements Swagger UI renders for each operation
# (`data-path="<path>"`), which exist only if the UI really ran.
#
# Uses the already-built binary (see .ci/lib.sh); installs Debian's chromium when missing.
# Loopback only; cleans up after itself.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_counting swagger

ci_require_services
bin=$(ci_bin)
ci_log "binary: $bin"

chromium=$(ci_chromium)

port=$(ci_free_port)
database='' prefix='' # set by the two calls below
ci_new_database database swagger
ci_new_redis_prefix prefix swagger
ci_start_server simplechat "$port" APP_ENV=prod JWT_SECRET="$(ci_random 48)" \
  DATABASE_URL="$CI_POSTGRES_URL/$database" REDIS_PREFIX="$prefix" DATABASE_POOL_SIZE=2
ci_wait_ready simplechat "$port" "$ci_last_pid"

curl -fsS -m 10 "http://127.0.0.1:$port/openapi.json" -o "$ci_tmp/openapi.json" ||
  ci_die "GET /openapi.json"

# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# closed network refuses. A fresh profile each time; virtual time lets the page's scripts finish.
ci_log "loading http://127.0.0.1:$port/swagger in headless Chromium"
timeout 90 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --user-data-dir="$ci_tmp/chromium-profile" \
  --virtual-time-budget=10000 --dump-dom "http://127.0.0.1:$port/swagger" \
  >"$ci_tmp/swagger-dom.html" 2>"$ci_tmp/chromium.log" || {
  tail -n 20 "$ci_tmp/chromium.log" >&2
  failed=$((failed + 1))
  ci_die "chromium could not load the page"
}

if python3 - "$ci_tmp/openapi.json" "$ci_tmp/swagger-dom.html" <<'EOF'
import html, json, re, sys

spec = json.load(open(sys.argv[1]))
dom = open(sys.argv[2], encoding="utf-8", errors="replace").read()
expected = set(spec["paths"])
operations = sum(1 for item in spec["paths"].values() for method in item
                 if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"))
rendered = [html.unescape(path) for path in re.findall(r'data-path="([^"]*)"', dom)]
problems = []
for must in ("/api/v1/auth/login", "/api/v1/groups/{group_id}/messages"):
    if must not in expected:
        problems.append(f"{must} is not in /openapi.json")
missing = sorted(expected - set(rendered))
if missing:
    problems.append(f"not rendered: {', '.join(missing)}")
if len(rendered) < operations:
    problems.append(f"{len(rendered)} operations rendered, the spec has {operations}")
if problems:
    print("swagger check: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"swagger check: all {len(expected)} paths ({operations} operations) of /openapi.json "
      f"rendered, /api/v1/auth/login and /api/v1/groups/{{group_id}}/messages among them",
      file=sys.stderr)
EOF
then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
