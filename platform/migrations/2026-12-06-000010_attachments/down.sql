DROP TRIGGER attachments_queue_blob_deletion ON chat.attachments;
DROP FUNCTION chat.queue_attachment_blob_deletion();
DROP TABLE chat.attachment_blob_deletions;
DROP TABLE chat.attachments;
