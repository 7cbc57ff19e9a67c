-- certfleet schema v1 (SQLite). The PostgreSQL twin is ../postgres/0001_initial.sql; keep them
-- in step.
--
-- Timestamps are TEXT in one fixed-width UTC form, 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (always six
-- fractional digits, always 'Z'), written only by the store's `ts()` helper. Fixed width makes
-- string order equal time order, so indexes and comparisons on these columns work, and
-- microseconds match PostgreSQL's timestamptz precision so both backends round-trip a
-- DateTime<Utc> identically. Booleans are INTEGER 0/1, JSON is TEXT.

CREATE TABLE terminals (
    -- AUTOINCREMENT: ids are shown to operators (`terminal revoke 12`), so never reuse one.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id      TEXT NOT NULL UNIQUE,
    hostname        TEXT NOT NULL,
    os_name         TEXT NOT NULL DEFAULT '',
    os_version      TEXT NOT NULL DEFAULT '',
    agent_version   TEXT NOT NULL DEFAULT '',
    node_key_hash   TEXT NOT NULL UNIQUE,
    enrolled_at     TEXT NOT NULL,
    first_report_at TEXT,
    last_report_at  TEXT,
    last_scanned_at TEXT,
    holdings_digest TEXT,
    revoked_at      TEXT
);
CREATE INDEX terminals_last_report_at ON terminals (last_report_at);
CREATE INDEX terminals_hostname ON terminals (hostname);

CREATE TABLE certificates (
    sha256        TEXT PRIMARY KEY NOT NULL,
    sha1          TEXT NOT NULL,
    der           BLOB NOT NULL,
    subject       TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject_cn    TEXT,
    issuer_cn     TEXT,
    serial        TEXT NOT NULL,
    not_before    TEXT NOT NULL,
    not_after     TEXT NOT NULL,
    client_auth   INTEGER NOT NULL CHECK (client_auth IN (0, 1)),
    office_number TEXT,
    first_seen    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificates_office_not_after ON certificates (office_number, not_after)
    WHERE office_number IS NOT NULL;
CREATE INDEX certificates_office_cert_not_after ON certificates (not_after)
    WHERE office_number IS NOT NULL;

CREATE TABLE holdings (
    terminal_id     INTEGER NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    sha256          TEXT NOT NULL REFERENCES certificates (sha256),
    locations       TEXT NOT NULL,
    has_private_key INTEGER CHECK (has_private_key IN (0, 1)),
    friendly_name   TEXT NOT NULL DEFAULT '',
    first_seen      TEXT NOT NULL,
    last_seen       TEXT NOT NULL,
    removed_at      TEXT,
    PRIMARY KEY (terminal_id, sha256)
) WITHOUT ROWID;
CREATE INDEX holdings_live_by_certificate ON holdings (sha256, terminal_id)
    WHERE removed_at IS NULL;

CREATE TABLE reports (
    id                INTEGER PRIMARY KEY,
    report_id         TEXT NOT NULL UNIQUE,
    terminal_id       INTEGER NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    scanned_at        TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    outcome           TEXT NOT NULL CHECK (outcome IN ('accepted', 'unchanged', 'superseded')),
    certificate_count INTEGER NOT NULL,
    rejected_count    INTEGER NOT NULL,
    scan_errors       TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX reports_terminal_received ON reports (terminal_id, received_at);
