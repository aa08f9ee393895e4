-- A conversation is a private pair or a group. Its row is also the sequence of its messages:
-- sending increments last_seq under the row's lock, in the transaction that stores the message,
-- so seq counts 1, 2, 3, … with no gap or duplicate however many instances write at once.
CREATE TABLE chat.conversations (
    id        bigserial PRIMARY KEY,
    -- A private pair is stored once, with the smaller id first.
    user_low  uuid      REFERENCES chat.users (id) ON DELETE CASCADE,
    user_high uuid      REFERENCES chat.users (id) ON DELETE CASCADE,
    group_id  uuid      REFERENCES chat.groups (id) ON DELETE CASCADE,
    last_seq  bigint    NOT NULL DEFAULT 0,
    CHECK (
        (group_id IS NULL AND user_low IS NOT NULL AND user_high IS NOT NULL AND user_low < user_high)
        OR (group_id IS NOT NULL AND user_low IS NULL AND user_high IS NULL)
    ),
    UNIQUE (user_low, user_high),
    UNIQUE (group_id)
);
-- The pair's unique index serves lookups by user_low; this one serves user_high.
CREATE INDEX conversations_user_high_idx ON chat.conversations (user_high);

CREATE TABLE chat.messages (
    -- A sonyflake id: unique across instances, roughly ordered by time.
    id              bigint      PRIMARY KEY,
    conversation_id bigint      NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    seq             bigint      NOT NULL,
    sender_id       uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    content         text        NOT NULL,
    client_msg_id   text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq),
    -- Makes retries idempotent across instances and restarts.
    UNIQUE (sender_id, client_msg_id)
);

-- How far each member has read each conversation.
CREATE TABLE chat.read_markers (
    conversation_id bigint      NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    user_id         uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    read_seq        bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX read_markers_user_id_idx ON chat.read_markers (user_id);

-- Every group has its conversation from the start; groups made earlier get theirs here.
INSERT INTO chat.conversations (group_id)
SELECT id FROM chat.groups
ON CONFLICT (group_id) DO NOTHING;
