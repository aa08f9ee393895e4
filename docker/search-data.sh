#!/usr/bin/env bash
# Fills a migrated, empty simplechat database with synthetic search data, the way a restore would
# load it: 2,000 users, 10,000 private conversations, 200 groups of 25, and MESSAGES messages
# (default 1,000,000) of 4–12 words from a skewed vocabulary, some edited, deleted and reacted to.
# Used by `make bench-search` (docker/search-bench.sh) and by the fair-share bench
# (docker/fair-share-bench.sh), which serves the data to a real server.
#
# Usage: docker/search-data.sh DATABASE_URL [MESSAGES]
set -euo pipefail

db_url=$1
messages=${2:-1000000}

psql "$db_url" -qAtX -v ON_ERROR_STOP=1 >/dev/null <<SQL
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
