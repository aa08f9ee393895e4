ALTER TABLE chat.read_markers
    ADD CONSTRAINT read_markers_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES chat.users (id) ON DELETE CASCADE;
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_sender_id_fkey FOREIGN KEY (sender_id)
    REFERENCES chat.users (id) ON DELETE CASCADE;
