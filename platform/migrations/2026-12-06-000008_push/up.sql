-- Push notifications and mute (v1.2): who muted what, each login session's Web Push
-- subscriptions, the durable outbox of messages to push, the per-(user, conversation) pushes
-- waiting to go out (where coalescing happens), and the server's VAPID key pair.

-- A mute silences pushes for one conversation of one user: a group (kind 'group', target the
-- group) or a private conversation (kind 'user', target the other user). `until` is far in the
-- future for "until unmuted"; an expired row means nothing and is overwritten by the next mute.
CREATE TABLE chat.mutes (
    user_id   uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    kind      text        NOT NULL CHECK (kind IN ('group', 'user')),
    target_id uuid        NOT NULL,
    until     timestamptz NOT NULL,
    PRIMARY KEY (user_id, kind, target_id)
);

-- A browser's PushSubscription, owned by the login session that created it: ending the session
-- ends it. An endpoint is one browser profile's, so it belongs to one session at a time; a
-- browser that logs in again moves its endpoint to the new session.
CREATE TABLE chat.push_subscriptions (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    session_id uuid        NOT NULL REFERENCES chat.sessions (id) ON DELETE CASCADE,
    endpoint   text        NOT NULL UNIQUE,
    -- base64url, as the browser gave them: an uncompressed P-256 point and 16 bytes.
    p256dh     text        NOT NULL,
    auth       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_user_id_idx ON chat.push_subscriptions (user_id);
CREATE INDEX push_subscriptions_session_id_idx ON chat.push_subscriptions (session_id);

-- Messages that may need pushing, written in the transaction that stores them (one row per
-- message, whoever its recipients are): a crash after the commit loses no push. A worker claims
-- rows with FOR UPDATE SKIP LOCKED and turns them into `push_pending` rows.
CREATE TABLE chat.push_outbox (
    conversation_id bigint      NOT NULL,
    message_id      bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, message_id),
    FOREIGN KEY (conversation_id, message_id)
        REFERENCES chat.messages (conversation_id, id) ON DELETE CASCADE
);
CREATE INDEX push_outbox_created_at_idx ON chat.push_outbox (created_at);

-- One row per (user, conversation) with a push owed or recently sent. `unread` counts the
-- messages waiting (0: none; the row then only remembers `last_sent_at`, for coalescing).
-- `due_at` is when a worker may send next: at once, after the coalescing window, after a
-- back-off, or after a claim's lease (a claim moves it ahead, so a crashed sender's row comes
-- back to another instance).
CREATE TABLE chat.push_pending (
    user_id         uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    conversation_id bigint      NOT NULL REFERENCES chat.conversations (id) ON DELETE CASCADE,
    message_id      bigint      NOT NULL,
    seq             bigint      NOT NULL,
    unread          integer     NOT NULL CHECK (unread >= 0),
    -- When the oldest waiting message arrived; retries stop once PUSH_TTL has passed since.
    pending_since   timestamptz,
    due_at          timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_sent_at    timestamptz,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX push_pending_due_idx ON chat.push_pending (due_at) WHERE unread > 0;
CREATE INDEX push_pending_idle_idx ON chat.push_pending (last_sent_at) WHERE unread = 0;

-- The VAPID key pair every instance signs with, when VAPID_PRIVATE_KEY is not set: the first
-- instance to start inserts one, the others read it (one row; INSERT … ON CONFLICT DO NOTHING).
CREATE TABLE chat.vapid_keys (
    id          smallint    PRIMARY KEY CHECK (id = 1),
    -- base64url of the PKCS#8 DER private key.
    private_key text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
