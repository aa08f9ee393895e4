DROP TABLE chat.vapid_keys;
DROP TABLE chat.push_pending;
DROP TABLE chat.push_outbox;
DROP TABLE chat.push_subscriptions;
DROP TABLE chat.mutes;
