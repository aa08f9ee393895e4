-- Contacts are one-way: `owner_id` keeps `contact_id` in their list. Two users may talk when either
-- has the other.
CREATE TABLE chat.contacts (
    owner_id   uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    contact_id uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, contact_id),
    CHECK (owner_id <> contact_id)
);
-- "Who has this user as a contact": presence fan-out and the may-message check.
CREATE INDEX contacts_contact_id_idx ON chat.contacts (contact_id);

CREATE TABLE chat.groups (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    public       boolean     NOT NULL DEFAULT false,
    -- NULL only for groups the system made (`general`).
    created_by   uuid        REFERENCES chat.users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Kept in step with group_members under the group row's lock, so the member cap holds even
    -- when many users join at once.
    member_count integer     NOT NULL DEFAULT 0 CHECK (member_count >= 0)
);
CREATE INDEX groups_public_idx ON chat.groups (lower(name)) WHERE public;

CREATE TABLE chat.group_members (
    group_id  uuid        NOT NULL REFERENCES chat.groups (id) ON DELETE CASCADE,
    user_id   uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    role      text        NOT NULL CHECK (role IN ('admin', 'member')),
    -- clock_timestamp, not now(): members added in one transaction still get an order.
    joined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_id_idx ON chat.group_members (user_id);

-- The public room everyone may join. A fixed id makes this idempotent and race-free.
INSERT INTO chat.groups (id, name, public, created_by)
VALUES ('00000000-0000-0000-0000-00000000000a', 'general', true, NULL)
ON CONFLICT (id) DO NOTHING;
