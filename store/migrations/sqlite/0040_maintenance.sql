-- Scheduled maintenance (issue 16), SQLite. Twin: ../postgres/0040_maintenance.sql (the
-- reasons are written there). Timestamps are fixed-width UTC text, as everywhere.
CREATE TABLE maintenance_runs (
    task            TEXT PRIMARY KEY,
    claimed_slot    TEXT,
    claimed_by      TEXT,
    last_success_at TEXT,
    last_result     TEXT
);
INSERT INTO maintenance_runs (task) VALUES ('alerts'), ('retention');

-- Deleting a removed holding leaves its pair as it is: only live holdings make a pair.
DROP TRIGGER holdings_refresh_pair_expiry_delete;
CREATE TRIGGER holdings_refresh_pair_expiry_delete
AFTER DELETE ON holdings
FOR EACH ROW WHEN OLD.office_number IS NOT NULL AND OLD.removed_at IS NULL
BEGIN
    DELETE FROM pair_expiry
    WHERE terminal_id = OLD.terminal_id AND office_number = OLD.office_number;
    INSERT INTO pair_expiry (terminal_id, office_number, not_after, sha256, has_private_key,
                             serial, subject, issuer, superseded)
    SELECT terminal_id, office_number, not_after, sha256, has_private_key,
           serial, subject, issuer, superseded
    FROM pair_effective
    WHERE terminal_id = OLD.terminal_id AND office_number = OLD.office_number;
END;

CREATE INDEX holdings_removed_at ON holdings (removed_at) WHERE removed_at IS NOT NULL;
CREATE INDEX reports_received_at ON reports (received_at);
CREATE INDEX holdings_by_certificate ON holdings (sha256);
CREATE INDEX alert_events_decided_at ON alert_events (decided_at);
