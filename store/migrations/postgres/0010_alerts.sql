-- Alert bookkeeping (PostgreSQL). Twin: ../sqlite/0010_alerts.sql.
--
-- An alert is *decided* once: alert_events.dedupe_key is unique, so two collector replicas (or a
-- retry after a crash) that decide the same (terminal, certificate, threshold) insert one row.
-- Each decided alert has one delivery per recipient; a delivery is marked sent only after the
-- channel accepted it, so a failure is retried and a crash between send and mark repeats at
-- most that one message (never drops one).
CREATE TABLE alert_events (
    id                 BIGSERIAL PRIMARY KEY,
    dedupe_key         TEXT NOT NULL UNIQUE,
    decided_at         TIMESTAMPTZ NOT NULL,
    threshold          TEXT NOT NULL,
    urgency            BIGINT NOT NULL,
    office_number      TEXT,
    terminal_id        BIGINT REFERENCES terminals (id),
    certificate_sha256 TEXT,
    not_after          TIMESTAMPTZ,
    -- What the digest says, frozen at decision time (JSON of alerts::AlertItem).
    payload            TEXT NOT NULL
);

CREATE TABLE alert_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    event_id        BIGINT NOT NULL REFERENCES alert_events (id),
    recipient       TEXT NOT NULL,
    -- 'pending' until delivered ('sent'); failures stay pending with a later next_attempt_at.
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    UNIQUE (event_id, recipient)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (next_attempt_at) WHERE state = 'pending';
