-- Cost per message (issue 30): less work for Postgres on every stored message.

-- The same columns, in the same order, as the primary key (conversation_id, id), which answers
-- every query this index did: a second copy only doubled the work of each insert.
DROP INDEX chat.messages_conversation_id_id_idx;

-- The outbox row is written in the transaction that stores its message, so the message exists;
-- checking the key cost a lock on the new message's row for every message. A message deleted with
-- its conversation before its row is claimed leaves a row that the worker drops (it joins the
-- messages and finds none). The outbox is a queue; nothing else reads it.
ALTER TABLE chat.push_outbox DROP CONSTRAINT push_outbox_conversation_id_message_id_fkey;

-- A message's sender and a read marker's user are checked against chat.users for every row
-- stored, a lookup and a row lock each. The writer stores a batch only for senders whose rows it
-- has just locked as live (`queries::users::lock_live`), and a user is never deleted (an account
-- deletion makes the row a tombstone), so the checks could only ever pass. The conversation keys
-- stay: deleting a group's conversation takes its messages and markers with it.
ALTER TABLE chat.messages DROP CONSTRAINT messages_sender_id_fkey;
ALTER TABLE chat.read_markers DROP CONSTRAINT read_markers_user_id_fkey;
