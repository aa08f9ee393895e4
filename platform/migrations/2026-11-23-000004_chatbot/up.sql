-- The built-in chatbot: a user with a fixed id and no password, so nobody can log in as it.
INSERT INTO chat.users (id, username, display_name, password_hash)
VALUES ('00000000-0000-0000-0000-0000000000b0', 'chatbot', 'Chatbot', NULL)
ON CONFLICT DO NOTHING;
