ALTER TABLE chat.sessions DROP COLUMN rotated_at;
