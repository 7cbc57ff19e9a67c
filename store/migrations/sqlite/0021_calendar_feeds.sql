-- iCalendar feeds (issue 17 §5, SQLite). Twin: ../postgres/0021_calendar_feeds.sql (see there
-- for the rules).
CREATE TABLE calendar_feeds (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash    TEXT NOT NULL UNIQUE,
    office_number TEXT,
    label         TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    revoked_at    TEXT
);
