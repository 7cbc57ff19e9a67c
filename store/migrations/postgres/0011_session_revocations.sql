-- Dashboard sessions ended by logout (PostgreSQL). Twin: ../sqlite/0011_session_revocations.sql.
--
-- Session cookies are stateless (HMAC-signed, shared key), so a logout must be remembered
-- where every replica looks, and survive restarts: here. A row holds only the session's MAC
-- (32 bytes), never the cookie, and the expiry the verified cookie carried; the row is
-- useless after it and pruned when the next logout is recorded. Every request with a valid
-- session cookie looks its MAC up by primary key.
CREATE TABLE session_revocations (
    mac        BYTEA PRIMARY KEY CHECK (octet_length(mac) = 32),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_revocations_expiry ON session_revocations (expires_at);
