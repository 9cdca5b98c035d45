-- A password change ends the member's sessions: a token issued before `sessions_after` (epoch ms, a token's
-- `iat_ms`) is refused, except `session_kept` (a token's jti): the session of the admin who changed their own password.
ALTER TABLE members ADD COLUMN sessions_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN session_kept TEXT;
