-- iCalendar feeds (issue 17 §5, PostgreSQL). Twin: ../sqlite/0021_calendar_feeds.sql.
--
-- A feed is read by calendar programs (Outlook, Google Calendar) that cannot log in, so its
-- URL carries a random token; only the token's SHA-256 is stored, and a revoked feed stops
-- answering. A feed belongs to a scope: the whole fleet (`office_number` NULL) or one office,
-- so a later office-scoped account can be limited to the feeds of its offices.
CREATE TABLE calendar_feeds (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    office_number TEXT,
    label         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TIMESTAMPTZ
);
