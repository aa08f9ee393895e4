CREATE INDEX messages_sender_client_msg_id_idx ON chat.messages (sender_id, client_msg_id);
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_conversation_sender_client_msg_id_key
    UNIQUE (conversation_id, sender_id, client_msg_id);
ALTER TABLE chat.messages DROP CONSTRAINT messages_sender_client_msg_id_key;
