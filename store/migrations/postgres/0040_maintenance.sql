-- Scheduled maintenance (issue 16), PostgreSQL. Twin: ../sqlite/0040_maintenance.sql.
--
-- Every collector replica runs the same daily schedule (alerts, retention). A run is *claimed*
-- for its scheduled time (its slot) with one conditional UPDATE of this table, so exactly one
-- replica runs each slot, whichever starts first, and a replica that starts late finds the slot
-- taken. The time of the last successful run is kept here rather than in one process, so every
-- replica's /metrics reports the same value and a restart does not reset it to "never".
CREATE TABLE maintenance_runs (
    task            TEXT PRIMARY KEY,
    -- The newest slot a replica claimed, and which one (host:pid).
    claimed_slot    TIMESTAMPTZ,
    claimed_by      TEXT,
    last_success_at TIMESTAMPTZ,
    -- What the last successful run did (JSON object of counts), for the CLI and metrics.
    last_result     TEXT
);
INSERT INTO maintenance_runs (task) VALUES ('alerts'), ('retention');

-- Retention deletes holdings that were removed long ago. Only live holdings make a pair, so
-- deleting a removed one must not recompute its pair (one PL/pgSQL call per pruned row).
DROP TRIGGER holdings_refresh_pair_expiry_insert ON holdings;
CREATE TRIGGER holdings_refresh_pair_expiry_insert
    AFTER INSERT ON holdings
    FOR EACH ROW EXECUTE FUNCTION holdings_refresh_pair_expiry();
CREATE TRIGGER holdings_refresh_pair_expiry_delete
    AFTER DELETE ON holdings
    FOR EACH ROW WHEN (OLD.removed_at IS NULL)
    EXECUTE FUNCTION holdings_refresh_pair_expiry();

-- Retention finds old removed holdings without reading the live ones.
CREATE INDEX holdings_removed_at ON holdings (removed_at) WHERE removed_at IS NOT NULL;
-- Retention keeps each terminal's newest report and deletes older ones by age.
CREATE INDEX reports_received_at ON reports (received_at);
-- Orphaned certificates: is any holding (live or removed) left for this certificate?
CREATE INDEX holdings_by_certificate ON holdings (sha256);
-- Alert events of a terminal (retention checks whether a pair alert's certificate is held).
CREATE INDEX alert_events_decided_at ON alert_events (decided_at);
