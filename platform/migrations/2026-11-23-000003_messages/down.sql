DROP TABLE chat.read_markers;
DROP TABLE chat.messages;
DROP TABLE chat.conversations;
