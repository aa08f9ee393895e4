DROP TABLE chat.blocks;
DROP TABLE chat.reactions;
DROP INDEX chat.messages_content_search_idx;
DROP INDEX chat.messages_conversation_id_id_idx;
DROP INDEX chat.messages_changes_idx;
ALTER TABLE chat.messages DROP CONSTRAINT messages_reply_to_fkey;
DROP INDEX chat.messages_sender_client_msg_id_idx;
ALTER TABLE chat.messages DROP CONSTRAINT messages_conversation_sender_client_msg_id_key;
ALTER TABLE chat.messages ADD CONSTRAINT messages_sender_id_client_msg_id_key
    UNIQUE (sender_id, client_msg_id);
DROP INDEX chat.messages_id_idx;
ALTER TABLE chat.messages DROP CONSTRAINT messages_pkey;
ALTER TABLE chat.messages ADD PRIMARY KEY (id);
ALTER TABLE chat.messages
    DROP CONSTRAINT messages_deleted_is_empty,
    DROP COLUMN reply_to_id,
    DROP COLUMN deleted,
    DROP COLUMN edited_at,
    DROP COLUMN change_seq;
ALTER TABLE chat.conversations DROP COLUMN change_seq;
