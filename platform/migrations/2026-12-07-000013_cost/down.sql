DELETE FROM chat.push_outbox AS o
WHERE NOT EXISTS (SELECT 1 FROM chat.messages AS m
                  WHERE m.conversation_id = o.conversation_id AND m.id = o.message_id);
ALTER TABLE chat.push_outbox
    ADD CONSTRAINT push_outbox_conversation_id_message_id_fkey FOREIGN KEY (conversation_id, message_id)
    REFERENCES chat.messages (conversation_id, id) ON DELETE CASCADE;

CREATE INDEX messages_conversation_id_id_idx ON chat.messages (conversation_id, id);
