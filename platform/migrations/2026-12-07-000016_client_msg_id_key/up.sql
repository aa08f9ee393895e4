-- Cost per message (issue 30): a sender's client_msg_id was kept in two indexes, a unique one
-- within the conversation and a plain one across the sender's conversations (for finding a
-- retry wherever the original went). One unique index on (sender_id, client_msg_id) does both,
-- and every stored message updates one index fewer. It also says in the database what the API
-- promises: the same sender and client_msg_id never make a second message, in any conversation
-- (before, two sends racing with one id to two conversations could both be stored).
--
-- Such a pair, stored before this migration, keeps its oldest message's client_msg_id; the
-- newer ones get their message id appended, so the key can be built.
UPDATE chat.messages AS m
SET client_msg_id = m.client_msg_id || ' (duplicate ' || m.id || ')'
FROM (
    SELECT id, row_number() OVER (PARTITION BY sender_id, client_msg_id ORDER BY id) AS place
    FROM chat.messages
    WHERE (sender_id, client_msg_id) IN (
        SELECT sender_id, client_msg_id FROM chat.messages
        GROUP BY sender_id, client_msg_id HAVING count(*) > 1
    )
) AS duplicate
WHERE m.id = duplicate.id AND duplicate.place > 1;

ALTER TABLE chat.messages
    ADD CONSTRAINT messages_sender_client_msg_id_key UNIQUE (sender_id, client_msg_id);
ALTER TABLE chat.messages DROP CONSTRAINT messages_conversation_sender_client_msg_id_key;
DROP INDEX chat.messages_sender_client_msg_id_idx;
