-- When the session's refresh token was last rotated. A refresh token of the previous generation
-- presented again within REFRESH_REUSE_GRACE of this time (two tabs, a retried request) gets the
-- same new pair, signed again with this time as its issue time, instead of revoking the session.
ALTER TABLE chat.sessions ADD COLUMN rotated_at timestamptz;
