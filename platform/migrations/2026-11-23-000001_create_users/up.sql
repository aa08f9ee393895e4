-- Every table of simplechat lives in the `chat` schema: `user` is a reserved word in Postgres, and a
-- schema of our own keeps the tables apart from anything else in the database.
CREATE SCHEMA IF NOT EXISTS chat;

CREATE TABLE chat.users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL,
    display_name  text        NOT NULL,
    -- NULL for built-in users that cannot log in (the chatbot).
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz
);

-- Usernames are unique ignoring case; login and lookups compare lower(username).
CREATE UNIQUE INDEX users_username_lower_key ON chat.users (lower(username));
-- Serves the prefix search of GET /users?q=.
CREATE INDEX users_username_prefix_idx ON chat.users (lower(username) text_pattern_ops);

-- One row per login. Access tokens name their session, so revoking the row revokes them;
-- refresh_generation counts rotations, so an old refresh token is recognised as reuse.
CREATE TABLE chat.sessions (
    id                 uuid        PRIMARY KEY,
    user_id            uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    refresh_generation bigint      NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz
);

CREATE INDEX sessions_user_id_idx ON chat.sessions (user_id);
