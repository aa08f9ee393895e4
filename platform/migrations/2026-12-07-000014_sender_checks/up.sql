-- Cost per message (issue 30): a message's sender and a read marker's user are checked against
-- chat.users for every row stored, a lookup and a row lock each. The writer stores a batch only
-- for senders whose rows it has just locked as live (`queries::users::lock_live`), and a user is
-- never deleted (an account deletion makes the row a tombstone), so the checks could only ever
-- pass. The conversation keys stay: deleting a group's conversation takes its messages and
-- markers with it.
ALTER TABLE chat.messages DROP CONSTRAINT messages_sender_id_fkey;
ALTER TABLE chat.read_markers DROP CONSTRAINT read_markers_user_id_fkey;
