-- Messages v1.1: edits, deletes, replies, reactions, blocks, search; and keys ready for a
-- Postgres distributed by conversation (Citus-style): every primary key and unique constraint of a
-- per-conversation table (messages, reactions, read_markers) starts with the conversation's id, so
-- each one can be enforced within the shard that holds the conversation.

-- Changes (edits, deletes, reactions) are numbered per conversation, like messages: taking the
-- next change_seq locks the conversation's row, so change_seqs count 1, 2, 3, … and a client that
-- remembers the last one it saw can ask for exactly what changed since.
ALTER TABLE chat.conversations
    ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;

ALTER TABLE chat.messages
    -- The change_seq of the message's latest change; 0 until it is first changed.
    ADD COLUMN change_seq  bigint      NOT NULL DEFAULT 0,
    ADD COLUMN edited_at   timestamptz,
    -- A deleted message stays (seq keeps no gaps) as a tombstone with content ''.
    ADD COLUMN deleted     boolean     NOT NULL DEFAULT false,
    ADD COLUMN reply_to_id bigint,
    ADD CONSTRAINT messages_deleted_is_empty CHECK (NOT deleted OR content = '');

-- The id stays unique (sonyflake ids are unique by construction); the key that the database
-- enforces carries the conversation.
ALTER TABLE chat.messages DROP CONSTRAINT messages_pkey;
ALTER TABLE chat.messages ADD PRIMARY KEY (conversation_id, id);
-- Looking a message up by id alone (edit, delete, react): an ordinary index.
CREATE INDEX messages_id_idx ON chat.messages (id);

-- Retries are found within their conversation. The index on (sender_id, client_msg_id) still
-- finds a sender's id in any conversation, so a reused client_msg_id returns its original.
ALTER TABLE chat.messages DROP CONSTRAINT messages_sender_id_client_msg_id_key;
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_conversation_sender_client_msg_id_key
    UNIQUE (conversation_id, sender_id, client_msg_id);
CREATE INDEX messages_sender_client_msg_id_idx ON chat.messages (sender_id, client_msg_id);

-- A reply quotes a message of its own conversation: the key says so. (Messages are never removed
-- one by one, only as tombstones, or with their whole conversation.)
ALTER TABLE chat.messages
    ADD CONSTRAINT messages_reply_to_fkey FOREIGN KEY (conversation_id, reply_to_id)
    REFERENCES chat.messages (conversation_id, id);

-- Catching up: the changed messages of a conversation after a change_seq, in change_seq order.
CREATE INDEX messages_changes_idx ON chat.messages (conversation_id, change_seq)
    WHERE change_seq > 0;

-- "All my private messages" and search page newest first by id within the caller's
-- conversations.
CREATE INDEX messages_conversation_id_id_idx ON chat.messages (conversation_id, id);

-- Search: full-text with the 'simple' configuration (no stemming, no stop words: it works the same
-- for every language). The same index answers prefix queries ('hel:*') for partial words.
-- Deleted messages have no content, so they never match; the index leaves them out anyway.
CREATE INDEX messages_content_search_idx ON chat.messages
    USING gin (to_tsvector('simple', content)) WHERE NOT deleted;

-- One row per (message, emoji, user). Reactions go with their message: deleting it clears them.
CREATE TABLE chat.reactions (
    conversation_id bigint      NOT NULL,
    message_id      bigint      NOT NULL,
    emoji           text        NOT NULL CHECK (octet_length(emoji) BETWEEN 1 AND 32),
    user_id         uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (conversation_id, message_id, emoji, user_id),
    FOREIGN KEY (conversation_id, message_id)
        REFERENCES chat.messages (conversation_id, id) ON DELETE CASCADE
);

-- Blocks are one-way and private: `blocker_id` hears nothing private from `blocked_id`.
CREATE TABLE chat.blocks (
    blocker_id uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    blocked_id uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
-- "Who blocked this user": presence and the sending rule look from the blocked side.
CREATE INDEX blocks_blocked_id_idx ON chat.blocks (blocked_id);
