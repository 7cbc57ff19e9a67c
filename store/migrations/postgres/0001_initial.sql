-- certfleet schema v1 (PostgreSQL). Timestamps are timestamptz (microsecond precision, UTC).
-- The SQLite twin of this file is ../sqlite/0001_initial.sql; keep them in step.

-- One row per PC, keyed by the agent's stable machine id.
CREATE TABLE terminals (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    machine_id      TEXT NOT NULL UNIQUE,
    hostname        TEXT NOT NULL,
    os_name         TEXT NOT NULL DEFAULT '',
    os_version      TEXT NOT NULL DEFAULT '',
    agent_version   TEXT NOT NULL DEFAULT '',
    -- Hash of the node key; the key itself is never stored. Unique: it identifies the caller.
    node_key_hash   TEXT NOT NULL UNIQUE,
    enrolled_at     TIMESTAMPTZ NOT NULL,
    first_report_at TIMESTAMPTZ,
    last_report_at  TIMESTAMPTZ,
    -- The agent-side time of the newest snapshot applied; older snapshots never roll back.
    last_scanned_at TIMESTAMPTZ,
    -- Digest of the current holdings: an identical snapshot takes the cheap path.
    holdings_digest TEXT,
    revoked_at      TIMESTAMPTZ
);
-- Stale-terminal report and metrics (last report older than N days).
CREATE INDEX terminals_last_report_at ON terminals (last_report_at);
-- `--terminal HOSTNAME` filters and `terminal revoke HOSTNAME`.
CREATE INDEX terminals_hostname ON terminals (hostname);

-- Certificates are immutable and shared between terminals: keyed by SHA-256 of the DER.
CREATE TABLE certificates (
    sha256        TEXT PRIMARY KEY,
    sha1          TEXT NOT NULL,
    der           BYTEA NOT NULL,
    subject       TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    subject_cn    TEXT,
    issuer_cn     TEXT,
    serial        TEXT NOT NULL,
    not_before    TIMESTAMPTZ NOT NULL,
    not_after     TIMESTAMPTZ NOT NULL,
    client_auth   BOOLEAN NOT NULL,
    -- Set when the selection rules make this an office certificate (the report subject).
    office_number TEXT,
    first_seen    TIMESTAMPTZ NOT NULL
);
-- `report expiring --office N` / `report offices`: an office's certificates by expiry.
CREATE INDEX certificates_office_not_after ON certificates (office_number, not_after)
    WHERE office_number IS NOT NULL;
-- `report expiring` without an office filter: office certificates with not_after <= as_of + W.
CREATE INDEX certificates_office_cert_not_after ON certificates (not_after)
    WHERE office_number IS NOT NULL;

-- Terminal x certificate. Rows are never deleted by ingest: a certificate that vanished from
-- the terminal's snapshot gets removed_at (history), and is revived if it reappears.
CREATE TABLE holdings (
    terminal_id     BIGINT NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    sha256          TEXT NOT NULL REFERENCES certificates (sha256),
    -- JSON array of {source, store, user, path}, sorted.
    locations       JSONB NOT NULL,
    -- NULL = unknown (e.g. a file without a key next to it).
    has_private_key BOOLEAN,
    friendly_name   TEXT NOT NULL DEFAULT '',
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    removed_at      TIMESTAMPTZ,
    PRIMARY KEY (terminal_id, sha256)
);
-- Reports start from certificates (office, not_after) and need the terminals that currently
-- hold them; only live rows matter, so the index skips removed history.
CREATE INDEX holdings_live_by_certificate ON holdings (sha256, terminal_id)
    WHERE removed_at IS NULL;

-- Every snapshot received once (idempotency by report id, audit).
CREATE TABLE reports (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Globally unique: the agent generates a random id per snapshot; a replay is a duplicate.
    report_id         TEXT NOT NULL UNIQUE,
    terminal_id       BIGINT NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    scanned_at        TIMESTAMPTZ NOT NULL,
    received_at       TIMESTAMPTZ NOT NULL,
    outcome           TEXT NOT NULL CHECK (outcome IN ('accepted', 'unchanged', 'superseded')),
    certificate_count INTEGER NOT NULL,
    rejected_count    INTEGER NOT NULL,
    -- JSON array of {source, path, message}.
    scan_errors       JSONB NOT NULL DEFAULT '[]'::jsonb
);
-- A terminal's report history (terminal page, retention pruning).
CREATE INDEX reports_terminal_received ON reports (terminal_id, received_at);
