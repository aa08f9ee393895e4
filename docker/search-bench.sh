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
locked -s psql "$db_url" -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
-- 2,000 users; 10,000 private pairs (each user talks to about ten others); 200 groups of 25.
INSERT INTO chat.users (id, username, display_name)
SELECT md5('user' || n)::uuid, 'user' || n, 'User ' || n FROM generate_series(1, 2000) n;
INSERT INTO chat.conversations (user_low, user_high)
SELECT DISTINCT least(a, b), greatest(a, b)
FROM (SELECT md5('user' || (1 + n % 2000))::uuid a,
             md5('user' || (1 + (n * 7919 + n / 2000) % 2000))::uuid b
      FROM generate_series(0, 9999) n) pairs
WHERE a <> b;
INSERT INTO chat.groups (id, name) SELECT md5('group' || g)::uuid, 'group ' || g FROM generate_series(1, 200) g;
INSERT INTO chat.group_members (group_id, user_id, role)
SELECT DISTINCT md5('group' || g)::uuid, md5('user' || (1 + (g * 31 + m * 97) % 2000))::uuid, 'member'
FROM generate_series(1, 200) g, generate_series(1, 25) m;
INSERT INTO chat.conversations (group_id) SELECT id FROM chat.groups ON CONFLICT DO NOTHING;

-- Messages spread over the conversations, 70 % private; ids grow with time like sonyflake ids,
-- and seq counts 1, 2, 3, … per conversation in id order. Loaded the way a restore would be:
-- foreign-key triggers off and the secondary indexes built afterwards (the same definitions).
CREATE TEMP TABLE conversation_ids AS
SELECT row_number() OVER (ORDER BY id) - 1 AS slot, id, group_id IS NOT NULL AS is_group
FROM chat.conversations;
CREATE TEMP TABLE counts AS
SELECT count(*) FILTER (WHERE NOT is_group) AS private, count(*) FILTER (WHERE is_group) AS groups
FROM conversation_ids;
ANALYZE conversation_ids;
CREATE TEMP TABLE secondary_indexes AS
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = 'chat' AND tablename = 'messages'
  AND indexname NOT IN (SELECT conname FROM pg_constraint);
DO \$\$ DECLARE i record; BEGIN
  FOR i IN SELECT indexname FROM secondary_indexes LOOP
    EXECUTE format('DROP INDEX chat.%I', i.indexname);
  END LOOP;
END \$\$;
ALTER TABLE chat.messages DISABLE TRIGGER ALL;
INSERT INTO chat.messages (id, conversation_id, seq, sender_id, content, client_msg_id)
SELECT m.n * 1000 + 1, c.id,
       row_number() OVER (PARTITION BY c.id ORDER BY m.n),
       md5('user' || (1 + m.n % 2000))::uuid,
       -- 4–12 words of a made-up vocabulary of 20,000 (word r is the start of md5('w' || r)),
       -- drawn with a skew: a few words are common, most are rare, as in real chat.
       (SELECT string_agg(substr(md5('w' || r), 1, 3 + r % 6), ' ')
        FROM (SELECT floor(20000 * power(random(), 3))::int + 0 * k AS r
              FROM generate_series(1, 4 + m.n % 9) k) words),
       'bench-' || m.n
FROM (SELECT n, CASE WHEN n % 10 < 7 THEN n % counts.private
                     ELSE counts.private + n % counts.groups END AS slot
      FROM generate_series(1, $messages) n, counts) m
JOIN conversation_ids c USING (slot);
ALTER TABLE chat.messages ENABLE TRIGGER ALL;
DO \$\$ DECLARE i record; BEGIN
  FOR i IN SELECT indexdef FROM secondary_indexes LOOP EXECUTE i.indexdef; END LOOP;
END \$\$;
UPDATE chat.conversations c SET last_seq = s.last_seq
FROM (SELECT conversation_id, max(seq) last_seq FROM chat.messages GROUP BY conversation_id) s
WHERE c.id = s.conversation_id;
-- 1 % edited, 0.5 % deleted, 2 % reacted to, each a change of its conversation.
UPDATE chat.messages SET edited_at = now(), change_seq = 1 + (id / 1000) % 1000 WHERE (id / 1000) % 100 = 1;
UPDATE chat.messages SET deleted = true, content = '', change_seq = 2 + (id / 1000) % 1000 WHERE (id / 1000) % 200 = 51;
INSERT INTO chat.reactions (conversation_id, message_id, emoji, user_id)
SELECT conversation_id, id, '👍', sender_id FROM chat.messages WHERE (id / 1000) % 50 = 21 AND NOT deleted;
VACUUM ANALYZE;
SQL
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
search() { # $1: the tsquery expression; $2: the conversations (default: the busiest user's)
  echo "SELECT * FROM chat.messages WHERE conversation_id = ANY('{${2:-$ids}}'::bigint[]) AND NOT deleted
        AND to_tsvector('simple', content) @@ $1 ORDER BY id DESC LIMIT 51"
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
  "SELECT * FROM chat.messages WHERE conversation_id = $busy AND NOT deleted
     AND to_tsvector('simple', content) @@ to_tsquery('simple', '$common:*') ORDER BY id DESC LIMIT 51"
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
  top=$(grep -m1 -oE '(Bitmap Heap Scan on [a-z_]+|(Index|Index Only) Scan( Backward)? using [a-z_]+|Seq Scan on [a-z_]+)' <<<"$plan" || true)
  printf '%-52s %10s  %s rows; %s\n' "${names[$i]}" "$time_ms" "$rows" "$top"
  [ -n "${SEARCH_BENCH_PLANS:-}" ] && echo "$plan"
done
