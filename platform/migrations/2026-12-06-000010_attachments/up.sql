-- Attachments (v1.2): files uploaded to the object store (STORAGE_URL), each described by one
-- row here, and the queue of blobs to delete from the store.

-- One uploaded file. Until it is sent, only its uploader knows of it (`message_id` is NULL); a
-- send sets (`conversation_id`, `message_id`) once, in the transaction that stores the message,
-- and from then on the message's readers may fetch it. `kind` and `mime` are sniffed from the
-- bytes, never taken from the client; `name` is the client's file name, kept for display only.
CREATE TABLE chat.attachments (
    id              uuid        PRIMARY KEY,
    uploader_id     uuid        NOT NULL REFERENCES chat.users (id) ON DELETE CASCADE,
    conversation_id bigint,
    message_id      bigint,
    -- Its place among the message's attachments (0, 1, …), as the send listed them.
    position        smallint,
    kind            text        NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'file')),
    mime            text        NOT NULL,
    size            bigint      NOT NULL CHECK (size >= 0),
    name            text        NOT NULL,
    width           integer,
    height          integer,
    duration_ms     bigint,
    -- Where the bytes are in the object store, and the thumbnail's (images only).
    blob_key        text        NOT NULL,
    thumbnail_key   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((conversation_id IS NULL) = (message_id IS NULL)),
    FOREIGN KEY (conversation_id, message_id)
        REFERENCES chat.messages (conversation_id, id) ON DELETE CASCADE
);
CREATE INDEX attachments_message_idx ON chat.attachments (conversation_id, message_id)
    WHERE message_id IS NOT NULL;
-- The quota sums a user's attachments; the sweep finds unsent ones by age.
CREATE INDEX attachments_uploader_idx ON chat.attachments (uploader_id);
CREATE INDEX attachments_unsent_idx ON chat.attachments (created_at) WHERE message_id IS NULL;

-- Blobs to delete from the object store. Rows of `attachments` are never deleted while their
-- blobs are forgotten: the trigger below queues the keys of every deleted row, whatever deleted
-- it (a message deleted for everyone, the sweep of unsent uploads, a cascade from a user). A
-- periodic task on every instance claims keys with FOR UPDATE SKIP LOCKED, deletes the blobs
-- and then the rows.
CREATE TABLE chat.attachment_blob_deletions (
    blob_key  text        PRIMARY KEY,
    queued_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION chat.queue_attachment_blob_deletion() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chat.attachment_blob_deletions (blob_key) VALUES (OLD.blob_key)
        ON CONFLICT DO NOTHING;
    IF OLD.thumbnail_key IS NOT NULL THEN
        INSERT INTO chat.attachment_blob_deletions (blob_key) VALUES (OLD.thumbnail_key)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER attachments_queue_blob_deletion
    AFTER DELETE ON chat.attachments
    FOR EACH ROW EXECUTE FUNCTION chat.queue_attachment_blob_deletion();
