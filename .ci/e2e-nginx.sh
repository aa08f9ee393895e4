#!/usr/bin/env bash
# End to end through nginx: docker/nginx.conf (rendered for loopback ports) in front of two
# simplechat instances that share one database, one Redis prefix and one JWT secret but have
# different MACHINE_IDs. Two WebSocket clients connect through nginx, land on different instances
# and exchange a private message both ways (.ci/ws_e2e.py says how "different instances" is proven).
# nginx serves HTTPS with a certificate from docker/dev-cert.sh, so the exchange runs over wss://.
# Five tests: `nginx -t` on the config; TLS (HTTP redirects, HSTS, /metrics and /swagger only on
# the operators' port); the exchange; the web client at / through nginx; failover (one instance
# stopped, then both).
#
# Uses the already-built binary (see .ci/lib.sh), installs nginx from Debian when missing and the
# Python `websockets` package into a venv under ~/.cache/simplechat-ci. Loopback only; everything
# it starts is stopped, and its database dropped, when it exits.
set -euo pipefail
# shellcheck source=.ci/lib.sh
source "$(dirname "$0")/lib.sh"

ci_counting e2e-nginx

ci_require_services
bin=$(ci_bin)
ci_log "binary: $bin"

# --- tools
command -v nginx >/dev/null || ci_apt_install nginx
venv=$CI_CACHE_DIR/venv
if ! "$venv/bin/python" -c 'import websockets.asyncio.client' 2>/dev/null; then
  ci_log "installing the Python websockets package into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  timeout 300 "$venv/bin/pip" install -q --disable-pip-version-check 'websockets>=13' ||
    ci_die "pip install websockets"
fi

# --- nginx: render docker/nginx.conf for loopback ports, then `nginx -t` it.
port1=$(ci_free_port)
port2=$(ci_free_port)
while [ "$port2" = "$port1" ]; do port2=$(ci_free_port); done
# nginx's HTTPS (nginx_port), plain HTTP and operators' ports: all different.
taken=" $port1 $port2 "
nginx_port='' http_port='' ops_port=''
for var in nginx_port http_port ops_port; do
  port=$(ci_free_port)
  while [[ $taken == *" $port "* ]]; do port=$(ci_free_port); done
  taken+="$port "
  printf -v "$var" %s "$port"
done

template=$ci_root/docker/nginx.conf
for needle in 'server simplechat1:8080 ' 'server simplechat2:8080 ' 'listen 8080;' 'listen 8443 ssl;' \
  'listen 9080;' ':8443$request_uri' 'ssl_certificate /etc/nginx/tls/' 'ssl_certificate_key /etc/nginx/tls/'; do
  [ "$(grep -v '^[[:space:]]*#' "$template" | grep -cF "$needle")" = 1 ] ||
    ci_die "docker/nginx.conf must contain '$needle' exactly once (this script rewrites it)"
done
mkdir -p "$ci_tmp/nginx"
command -v openssl >/dev/null || ci_apt_install openssl
bash "$ci_root/docker/dev-cert.sh" "$ci_tmp/tls" 127.0.0.1 localhost
cacert=$ci_tmp/tls/cert.pem
conf=$ci_tmp/nginx/nginx.conf
sed -e "/^[[:space:]]*#/!s/server simplechat1:8080 /server 127.0.0.1:$port1 /" \
  -e "/^[[:space:]]*#/!s/server simplechat2:8080 /server 127.0.0.1:$port2 /" \
  -e "/^[[:space:]]*#/!s/listen 8080;/listen 127.0.0.1:$http_port;/" \
  -e "/^[[:space:]]*#/!s/listen 8443 ssl;/listen 127.0.0.1:$nginx_port ssl;/" \
  -e "/^[[:space:]]*#/!s/listen 9080;/listen 127.0.0.1:$ops_port;/" \
  -e "/^[[:space:]]*#/!s/:8443\$request_uri/:$nginx_port\$request_uri/" \
  -e "/^[[:space:]]*#/!s#/etc/nginx/tls/#$ci_tmp/tls/#" "$template" >"$conf"
ci_log "docker/nginx.conf rendered with upstreams 127.0.0.1:$port1, 127.0.0.1:$port2, HTTPS on 127.0.0.1:$nginx_port, HTTP on $http_port, operators' port $ops_port:"
diff "$template" "$conf" >&2 || true
nginx_args=(-c "$conf" -p "$ci_tmp/nginx/" -e "$ci_tmp/nginx-error.log" -g "pid $ci_tmp/nginx/nginx.pid;")
if nginx -t -q "${nginx_args[@]}" 2>"$ci_tmp/nginx-test.log"; then
  ci_log "nginx -t: docker/nginx.conf is valid"
  passed=$((passed + 1))
else
  cat "$ci_tmp/nginx-test.log" >&2
  failed=$((failed + 1))
  exit 1
fi
# --- two instances: same database, Redis prefix and JWT secret; different machine ids.
database='' prefix='' # set by the two calls below
ci_new_database database e2e
ci_new_redis_prefix prefix e2e
secret=$(ci_random 48)
common=(APP_ENV=prod DATABASE_URL="$CI_POSTGRES_URL/$database" REDIS_PREFIX="$prefix"
  JWT_SECRET="$secret" BCRYPT_COST=4 DATABASE_POOL_SIZE=4 TRUSTED_PROXIES=127.0.0.1/32)
ci_start_server simplechat1 "$port1" "${common[@]}" MACHINE_ID=1
pid1=$ci_last_pid
ci_start_server simplechat2 "$port2" "${common[@]}" MACHINE_ID=2
pid2=$ci_last_pid
ci_wait_ready simplechat1 "$port1" "$pid1"
ci_wait_ready simplechat2 "$port2" "$pid2"

# --- nginx in the foreground (as a child we can stop), logging to files.
nginx "${nginx_args[@]}" -g 'daemon off;' >"$ci_tmp/nginx-access.log" 2>>"$ci_tmp/nginx-error.log" &
nginx_pid=$!
ci_pids+=("$nginx_pid")
for _ in $(seq 1 40); do
  ci_answers 127.0.0.1 "$nginx_port" && break
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$ci_tmp/nginx-error.log" >&2; ci_die "nginx did not start"; }
  sleep 0.25
done
ci_answers 127.0.0.1 "$nginx_port" || ci_die "nginx does not answer on port $nginx_port"
ci_log "nginx (pid $nginx_pid) on 127.0.0.1:$nginx_port"

# --- TLS: plain HTTP redirects to HTTPS, HTTPS sends HSTS, the operators' pages are not public.
https=https://127.0.0.1:$nginx_port
tls_ok=1
tls_check() { # description, then the test
  local what=$1
  shift
  if "$@"; then ci_log "TLS: $what"; else ci_log "TLS: FAILED: $what"; tls_ok=; fi
}
redirect=$(curl -sS -m 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
  "http://127.0.0.1:$http_port/api/v1/users/me?x=1") || redirect=''
tls_check "HTTP answers 308 to the same path over HTTPS ($redirect)" \
  test "$redirect" = "308 $https/api/v1/users/me?x=1"
headers=$(curl -sS -m 10 --cacert "$cacert" -D - -o /dev/null "$https/healthz" | tr -d '\r') || headers=''
tls_check "HTTPS answers with Strict-Transport-Security" grep -qi '^strict-transport-security: max-age=' <<<"$headers"
for path in /metrics /swagger/; do
  status=$(curl -sS -m 10 --cacert "$cacert" -o /dev/null -w '%{http_code}' "$https$path") || status=000
  tls_check "$path is not served on the public port ($status)" test "$status" = 404
done
status=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ops_port/swagger/") || status=000
tls_check "the Swagger UI is on the operators' port ($status)" test "$status" = 200
if [ -n "$tls_ok" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# --- the exchange, over HTTPS and wss:// (Python trusts the dev certificate through SSL_CERT_FILE)
if SSL_CERT_FILE=$cacert timeout 120 "$venv/bin/python" "$ci_root/.ci/ws_e2e.py" --base "$https" \
  --access-log "$ci_tmp/nginx-access.log" \
  --instance "1,127.0.0.1:$port1,$ci_tmp/simplechat1.log" \
  --instance "2,127.0.0.1:$port2,$ci_tmp/simplechat2.log"; then
  passed=$((passed + 1))
  ci_log "two clients on two instances exchanged messages through nginx"
else
  failed=$((failed + 1))
fi

# --- the web client through nginx: served at /, and the Host the browser used (port included)
# reaches the server, which names it in the page's Content-Security-Policy.
headers=$(curl -sS -m 10 --cacert "$cacert" -D - -o "$ci_tmp/web.html" "$https/" | tr -d '\r') || headers=''
if grep -qi '^HTTP/1.1 200' <<<"$headers" && grep -q 'assets/js/main.js' "$ci_tmp/web.html" &&
  grep -qi "^content-security-policy:.*wss://127.0.0.1:$nginx_port" <<<"$headers"; then
  passed=$((passed + 1))
  ci_log "the web client is served through nginx, with the browser's Host (port included)"
else
  failed=$((failed + 1))
  ci_log "GET / through nginx: expected 200, the page and a CSP naming wss://127.0.0.1:$nginx_port; got:"
  echo "$headers" >&2
fi

# --- failover: with simplechat2 stopped, every request through nginx still succeeds (a refused
# connection is retried on the other instance, POSTs included, since nothing was sent yet); with
# both stopped, nginx answers 503 in the contract's error shape rather than with its HTML page.
ci_stop_pid "$pid2"
ci_log "stopped simplechat2; sending requests through nginx"
failover_ok=1
for i in 1 2 3 4; do
  status=$(curl -sS -m 10 -o "$ci_tmp/failover.out" -w '%{http_code}' \
    --cacert "$cacert" -H 'content-type: application/json' -X POST "$https/api/v1/auth/register" \
    -d "{\"username\":\"failover_$(ci_random 8)_$i\",\"password\":\"correct horse battery\"}") || status=000
  if [ "$status" != 201 ]; then
    ci_log "request $i through nginx with one instance down: HTTP $status $(cat "$ci_tmp/failover.out" 2>/dev/null)"
    failover_ok=
  fi
done
[ -z "$failover_ok" ] || ci_log "with one instance down, 4 of 4 registrations through nginx succeeded"
ci_stop_pid "$pid1"
status=$(curl -sS -m 10 --cacert "$cacert" -o "$ci_tmp/failover.out" -w '%{http_code}' \
  "$https/api/v1/users/me") || status=000
if [ "$status" = 503 ] && grep -q '"code":"unavailable"' "$ci_tmp/failover.out"; then
  ci_log "with both instances down, nginx answers 503 $(cat "$ci_tmp/failover.out")"
else
  ci_log "with both down, expected 503 {\"code\":\"unavailable\",...}, got $status $(cat "$ci_tmp/failover.out" 2>/dev/null)"
  failover_ok=
fi
if [ -n "$failover_ok" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
[ "$failed" = 0 ]
