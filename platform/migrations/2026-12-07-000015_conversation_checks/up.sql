-- Cost per message (issue 30): every message and every new read marker was checked against
-- chat.conversations, one lookup and one key-share lock on the conversation row for each row
-- stored. The writer takes each message's conversation id from the row it has just updated or
-- created in the same statement (taking seqs), so the check could only ever pass. (Since this
-- migration the senders' accounts are held by an advisory lock, `queries::users::hold_accounts`,
-- where migration 14 names a row lock.)
--
-- What the keys also did stays: deleting a conversation (with its group) takes its messages and
-- read markers with it, here in a trigger that costs nothing until a conversation is deleted.
-- Its messages take their reactions and attachments with them by their own keys.
CREATE FUNCTION chat.delete_conversation_contents() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chat.messages WHERE conversation_id = OLD.id;
    DELETE FROM chat.read_markers WHERE conversation_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE TRIGGER conversations_delete_contents
    BEFORE DELETE ON chat.conversations
    FOR EACH ROW EXECUTE FUNCTION chat.delete_conversation_contents();

ALTER TABLE chat.messages DROP CONSTRAINT messages_conversation_id_fkey;
ALTER TABLE chat.read_markers DROP CONSTRAINT read_markers_conversation_id_fkey;
