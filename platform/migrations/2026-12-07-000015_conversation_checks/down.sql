ALTER TABLE chat.read_markers
    ADD CONSTRAINT read_markers_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES chat.conversations (id) ON DELETE CASCADE;
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id)
    REFERENCES chat.conversations (id) ON DELETE CASCADE;
DROP TRIGGER conversations_delete_contents ON chat.conversations;
DROP FUNCTION chat.delete_conversation_contents();
