#!/usr/bin/env bash
# Measures how much memory the server uses while it streams `GET /users/me/export` for users who
# sent 1,000, 10,000 and 100,000 messages, and writes the "Export memory" section of
# docs/BENCHMARKS.md. A flat peak (the same for every size) shows the export is streamed rather
# than built whole.
#
# Starts one server (EXPORT_BENCH_BIN, default target/release/simplechat) on a scratch database
# and Redis prefix, registers the users through the API, inserts their messages straight into
# Postgres, then samples the server's resident memory (VmRSS) every 10 ms while curl reads each
# export. Needs psql, curl and a Postgres the caller may create databases in
# (EXPORT_BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432) and a Redis
# (EXPORT_BENCH_REDIS, default redis://127.0.0.1:6379). The scratch database is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${EXPORT_BENCH_BIN:-target/release/simplechat}
postgres=${EXPORT_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
redis=${EXPORT_BENCH_REDIS:-redis://127.0.0.1:6379}
sizes=${EXPORT_BENCH_SIZES:-1000 10000 100000}
out=${EXPORT_BENCH_OUT:-docs/BENCHMARKS.md}
port=18195
database="export_bench_$(date +%s)_$$"
base="http://127.0.0.1:$port"
prefix="export-bench-$$:"
workdir=$(mktemp -d)

cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  psql "$postgres/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
  if command -v redis-cli >/dev/null; then
    redis-cli -u "$redis" --scan --pattern "$prefix*" | xargs -r redis-cli -u "$redis" del >/dev/null
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

DATABASE_URL="$postgres/$database" REDIS_URL="$redis" REDIS_PREFIX="$prefix" \
  JWT_SECRET="export-bench-secret-0123456789abcdef" LISTEN_ADDR="127.0.0.1:$port" MACHINE_ID=1 \
  BCRYPT_COST=4 RATE_LIMIT_LOGIN_PER_MIN=0 RATE_LIMIT_REGISTER_PER_HOUR=0 LOG_FORMAT=text \
  RUST_LOG=warn "$bin" serve >"$workdir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "$base/readyz" >/dev/null || { cat "$workdir/server.log" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server/status"; }
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
api() { # method path token body
  curl -fs -X "$1" "$base/api/v1$2" -H 'content-type: application/json' \
    ${3:+-H "authorization: Bearer $3"} ${4:+-d "$4"}
}

rows=()
for size in $sizes; do
  sender="exp_a_${size}_$$" receiver="exp_b_${size}_$$"
  sender_id=$(api POST /auth/register "" "{\"username\":\"$sender\",\"password\":\"correct horse battery\"}" | json_field id)
  receiver_id=$(api POST /auth/register "" "{\"username\":\"$receiver\",\"password\":\"correct horse battery\"}" | json_field id)
  token=$(api POST /auth/login "" "{\"username\":\"$sender\",\"password\":\"correct horse battery\"}" | json_field access_token)
  # Messages of about 120 characters, as a chat's are; ids far from any sonyflake the server draws.
  psql "$postgres/$database" -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
WITH pair AS (
  INSERT INTO chat.conversations (user_low, user_high, last_seq)
  VALUES (least('$sender_id'::uuid, '$receiver_id'::uuid), greatest('$sender_id'::uuid, '$receiver_id'::uuid), $size)
  RETURNING id
)
INSERT INTO chat.messages (id, conversation_id, seq, sender_id, content, client_msg_id)
SELECT $size::bigint * 1000000 + g, pair.id, g, '$sender_id',
       'message number ' || g || ': ' || repeat('lorem ipsum ', 9), 'bulk-' || g
FROM pair, generate_series(1, $size) AS g;
SQL
  before=$(rss_kib)
  peak=$before
  started=$(date +%s.%N)
  curl -fs "$base/api/v1/users/me/export" -H "authorization: Bearer $token" -o "$workdir/export.json" &
  reader=$!
  while kill -0 "$reader" 2>/dev/null; do
    now=$(rss_kib)
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.01
  done
  wait "$reader"
  seconds=$(echo "$(date +%s.%N) - $started" | bc)
  bytes=$(stat -c %s "$workdir/export.json")
  count=$(grep -o '"seq":' "$workdir/export.json" | wc -l)
  [ "$count" -eq "$size" ] || { echo "export of $size held $count messages" >&2; exit 1; }
  rows+=("| $size | $((bytes / 1024)) KiB | $(printf '%.2f' "$seconds") s | $((before / 1024)) MiB | $((peak / 1024)) MiB | $((peak - before)) KiB |")
  echo "export of $size messages: ${bytes} bytes in ${seconds}s, RSS ${before} → peak ${peak} KiB" >&2
done

section=$workdir/section.md
{
  echo "## Export memory"
  echo
  echo "Written by \`make bench-export\` (docker/export-memory.sh) on $(date -u +%Y-%m-%d), with \`$bin\`:"
  echo "one server streams \`GET /users/me/export\` to curl for users who sent these many messages"
  echo "(about 130 characters each), its resident memory sampled every 10 ms. The export reads 500"
  echo "messages at a time and writes each page before reading the next, so the peak should not grow"
  echo "with the history."
  echo
  echo "| messages sent | document | time | server RSS before | peak while streaming | growth |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$section"
# The section goes before "Scaled out" (which `make bench-scale` keeps last), replacing an earlier one.
touch "$out"
sed -i '/^## Export memory/,/^## /{/^## Export memory/d;/^## /!d}' "$out"
if grep -q '^## Scaled out' "$out"; then
  sed -i "/^## Scaled out/e cat $section; echo" "$out"
else
  { echo; cat "$section"; } >>"$out"
fi
echo "wrote the 'Export memory' section of $out" >&2
