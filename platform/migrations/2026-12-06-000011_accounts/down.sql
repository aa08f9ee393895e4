DROP INDEX chat.messages_sender_id_id_idx;
DROP TABLE chat.group_bans;
ALTER TABLE chat.users DROP COLUMN deleted_at;
ALTER TABLE chat.sessions DROP COLUMN user_agent, DROP COLUMN last_used_at;
