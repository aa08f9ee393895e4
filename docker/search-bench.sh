#!/usr/bin/env bash
# Times message search (and the other per-conversation reads) on a million messages.
#
# Loads a scratch database with the project's migrations and synthetic data — users, private
# conversations, groups, SEARCH_BENCH_MESSAGES messages (default 1,000,000) of 4–12 words drawn
# from a skewed vocabulary, some edited, deleted and reacted to — then runs the queries the server
# sends, with EXPLAIN (ANALYZE, BUFFERS), warm (each run three times, the last one reported).
# Prints one line per query: its plan's top node and execution time.
#
# Needs psql and a Postgres the caller may create databases in: SEARCH_BENCH_URL (default
# postgres://postgres@127.0.0.1:5432/postgres). The scratch database is dropped at the end.
# With SEARCH_BENCH_LOCK=<file>, loading runs under a shared `flock` of that file and the timed
# queries under an exclusive one, so the timings never run beside other heavy work that takes the
# same lock (builds, tests), and loading does not keep it from them for minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

admin_url=${SEARCH_BENCH_URL:-postgres://postgres@127.0.0.1:5432/postgres}
messages=${SEARCH_BENCH_MESSAGES:-1000000}
database="search_bench_$(date +%s)_$$"
db_url="${admin_url%/*}/$database"

psql_admin() { psql "$admin_url" -qAtX -v ON_ERROR_STOP=1 "$@"; }
psql_db() { psql "$db_url" -qAtX -v ON_ERROR_STOP=1 "$@"; }
cleanup() { psql_admin -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

psql_admin -c "CREATE DATABASE \"$database\""
for migration in platform/migrations/*/up.sql; do psql_db -f "$migration" >/dev/null; done
echo "postgres: $(psql_db -c 'SHOW server_version')"

# Runs the rest of the command under the lock, when one is given.
locked() { # $1: -s or -x
  local mode=$1
  shift
  if [ -n "${SEARCH_BENCH_LOCK:-}" ]; then flock "$mode" "$SEARCH_BENCH_LOCK" "$@"; else "$@"; fi
}

started=$(date +%s)
locked -s bash docker/search-data.sh "$db_url" "$messages"
echo "loaded $(psql_db -c 'SELECT count(*) FROM chat.messages') messages in $(($(date +%s) - started)) s;" \
  "table $(psql_db -c "SELECT pg_size_pretty(pg_table_size('chat.messages'))")," \
  "search index $(psql_db -c "SELECT pg_size_pretty(pg_relation_size('chat.messages_content_search_idx'))")"

# The busiest user: the one in the most conversations.
read -r user conversations <<<"$(psql_db -F ' ' -c "
  SELECT u, count(*) FROM (
    SELECT user_low u FROM chat.conversations WHERE user_low IS NOT NULL
    UNION ALL SELECT user_high FROM chat.conversations WHERE user_high IS NOT NULL
    UNION ALL SELECT m.user_id FROM chat.group_members m) x
  GROUP BY u ORDER BY count(*) DESC LIMIT 1")"
mine="SELECT id FROM chat.conversations WHERE user_low = '$user' OR user_high = '$user'
      OR group_id IN (SELECT group_id FROM chat.group_members WHERE user_id = '$user')"
ids="$(psql_db -c "SELECT string_agg(id::text, ',') FROM ($mine) c")"
busy="$(psql_db -c "SELECT conversation_id FROM chat.messages GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")"
common=$(psql_db -c "SELECT substr(md5('w0'), 1, 3)")
rare=$(psql_db -c "SELECT substr(md5('w' || 15000), 1, 3 + 15000 % 6)")
echo "user in $conversations conversations; messages there: $(psql_db -c \
  "SELECT count(*) FROM chat.messages WHERE conversation_id IN ($ids)")"

# Someone in every group (200 conversations, 30 % of all messages): the far end for search.
all_groups="$(psql_db -c "SELECT string_agg(id::text, ',') FROM chat.conversations WHERE group_id IS NOT NULL")"
# The statement app/queries/search.rs sends (with the page size 50 + 1 and no `before`).
search() { # $1: the tsquery expression; $2: the conversations (default: the busiest user's)
  local conversations="'{${2:-$ids}}'::bigint[]"
  echo "WITH recent AS MATERIALIZED (
          SELECT r.id FROM (SELECT id, content FROM chat.messages
                            WHERE conversation_id = ANY($conversations) AND NOT deleted
                            ORDER BY id DESC LIMIT 1000) r
          WHERE to_tsvector('simple', r.content) @@ $1 ORDER BY r.id DESC LIMIT 51
        ), found AS (SELECT count(*) AS n FROM recent)
        SELECT id FROM recent WHERE (SELECT n FROM found) = 51
        UNION ALL
        (SELECT id FROM chat.messages
         WHERE (SELECT n FROM found) < 51 AND conversation_id = ANY($conversations) AND NOT deleted
           AND to_tsvector('simple', content) @@ $1 ORDER BY id + 0 DESC LIMIT 51)"
}
declare -a names=(
  "search, a common word"
  "search, a rare word"
  "search, a 2-letter prefix"
  "search, two prefixes"
  "search, web syntax with exclusion"
  "search, with= one group"
  "search in 200 groups, a common word"
  "search in 200 groups, a rare word"
  "history page (newest 50)"
  "catch-up: changed_after in the busiest conversation"
  "all my private messages (newest 50)"
)
declare -a queries=(
  "$(search "to_tsquery('simple', '$common:*')")"
  "$(search "to_tsquery('simple', '$rare:*')")"
  "$(search "to_tsquery('simple', '${rare:0:2}:*')")"
  "$(search "to_tsquery('simple', '${common:0:2}:* & ${rare:0:3}:*')")"
  "$(search "websearch_to_tsquery('simple', '$common -$rare')")"
  "$(search "to_tsquery('simple', '$common:*')" "$busy")"
  "$(search "to_tsquery('simple', '$common:*')" "$all_groups")"
  "$(search "to_tsquery('simple', '$rare:*')" "$all_groups")"
  "SELECT * FROM chat.messages WHERE conversation_id = $busy ORDER BY seq DESC LIMIT 51"
  "SELECT * FROM chat.messages WHERE conversation_id = $busy AND change_seq > 500 ORDER BY change_seq LIMIT 201"
  "SELECT m.* FROM chat.messages m JOIN chat.conversations c ON c.id = m.conversation_id
     WHERE c.user_low = '$user' OR c.user_high = '$user' ORDER BY m.id DESC LIMIT 51"
)
# Every query three times (warm caches), all under one exclusive lock; the last run counts.
script=$(mktemp)
for i in "${!queries[@]}"; do
  printf '\\echo ==query %s==\n' "$i" >>"$script"
  for _ in 1 2 3; do printf 'EXPLAIN (ANALYZE, BUFFERS) %s;\n' "${queries[$i]}" >>"$script"; done
done
plans=$(locked -x psql "$db_url" -qAtX -v ON_ERROR_STOP=1 -f "$script")
rm -f "$script"
printf '%-52s %10s  %s\n' query "time (ms)" "plan"
for i in "${!queries[@]}"; do
  # The third plan of the query: from its last "Limit"/top line to its "Execution Time".
  plan=$(awk -v want="==query $i==" '
    $0 == want { on = 1; runs = 0; next }
    /^==query / { on = 0 }
    on { if (start) { buf = buf "\n" $0 } else { buf = $0; start = 1 }
         if ($0 ~ /^Execution Time/) { runs++; if (runs == 3) { print buf; exit } buf = ""; start = 0 } }
  ' <<<"$plans")
  time_ms=$(sed -n 's/^Execution Time: \([0-9.]*\) ms$/\1/p' <<<"$plan")
  rows=$(head -1 <<<"$plan" | sed -n 's/.*actual time=[^ ]* rows=\([0-9]*\).*/\1/p')
  scans='(Bitmap Heap Scan on [a-z_]+|(Index|Index Only) Scan( Backward)? using [a-z_]+|Seq Scan on [a-z_]+)'
  top=$(grep -m1 -oE "$scans" <<<"$plan" || true)
  if grep -q 'CTE recent' <<<"$plan"; then
    # A search: which of its two steps answered (the second's scan ran, or never executed).
    second=$(sed -n '/SELECT\* 2/,$p' <<<"$plan" | grep -m1 -E "$scans" || true)
    if grep -q 'never executed' <<<"$second"; then
      top="step 1 (the newest 1000: $top)"
    else
      top="step 2 ($(grep -oE "$scans" <<<"$second"))"
    fi
  fi
  printf '%-52s %10s  %s rows; %s\n' "${names[$i]}" "$time_ms" "$rows" "$top"
  [ -n "${SEARCH_BENCH_PLANS:-}" ] && echo "$plan"
done
