-- Cost per message (issue 30): less work for Postgres on every stored message.

-- The same columns, in the same order, as the primary key (conversation_id, id), which answers
-- every query this index did: a second copy only doubled the work of each insert.
DROP INDEX chat.messages_conversation_id_id_idx;

-- The outbox row is written in the transaction that stores its message, so the message exists;
-- checking the key cost a lock on the new message's row for every message. A message deleted with
-- its conversation before its row is claimed leaves a row that the worker drops (it joins the
-- messages and finds none). The outbox is a queue; nothing else reads it.
ALTER TABLE chat.push_outbox DROP CONSTRAINT push_outbox_conversation_id_message_id_fkey;
