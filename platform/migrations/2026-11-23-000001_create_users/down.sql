DROP TABLE chat.sessions;
DROP TABLE chat.users;
DROP SCHEMA chat;
