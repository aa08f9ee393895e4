-- Accounts and devices (v1.2): what the list of one's login sessions shows, the tombstone a
-- deleted account leaves, and bans from groups.

-- `last_used_at` moves when the session's tokens are used (at most once a minute, see
-- app/services/sessions.rs); `user_agent` is the one its login came with.
ALTER TABLE chat.sessions
    ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN user_agent   text;
UPDATE chat.sessions SET last_used_at = created_at;

-- A deleted account keeps its row, so that its messages keep their `sender_id`; the row is a
-- tombstone (no display name, no password). Its username stays taken for 30 days after
-- `deleted_at`, then a registration may take it (the tombstone's username is then rewritten).
ALTER TABLE chat.users ADD COLUMN deleted_at timestamptz;

-- Who may not join a group (public groups refuse `join` while a ban stands).
CREATE TABLE chat.group_bans (
    group_id   uuid        NOT NULL REFERENCES chat.groups (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);

-- An export reads every message a user sent, page by page in id order.
CREATE INDEX messages_sender_id_id_idx ON chat.messages (sender_id, id);
