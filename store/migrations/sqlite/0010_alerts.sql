-- Alert bookkeeping (SQLite). Twin: ../postgres/0010_alerts.sql (see there for the rules).
-- Timestamps are the store's fixed-width UTC text form.
CREATE TABLE alert_events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key         TEXT NOT NULL UNIQUE,
    decided_at         TEXT NOT NULL,
    threshold          TEXT NOT NULL,
    urgency            INTEGER NOT NULL,
    office_number      TEXT,
    terminal_id        INTEGER REFERENCES terminals (id),
    certificate_sha256 TEXT,
    not_after          TEXT,
    payload            TEXT NOT NULL
);

CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER NOT NULL REFERENCES alert_events (id),
    recipient       TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT,
    UNIQUE (event_id, recipient)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE state = 'pending';

-- SQLite has no advisory locks: the alert scheduler's leadership is a lease in this row.
CREATE TABLE alert_leader (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
