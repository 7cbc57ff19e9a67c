-- Dashboard sessions ended by logout (SQLite). Twin: ../postgres/0011_session_revocations.sql
-- (see there for the rules). Timestamps are the store's fixed-width UTC text form.
CREATE TABLE session_revocations (
    mac        BLOB PRIMARY KEY CHECK (length(mac) = 32),
    expires_at TEXT NOT NULL
);
CREATE INDEX session_revocations_expiry ON session_revocations (expires_at);
