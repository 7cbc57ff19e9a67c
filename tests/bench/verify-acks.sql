-- Checks a certfleet-loadgen acknowledgement log (--ack-log, JSON lines on psql's standard input)
-- against the collector's PostgreSQL database: every acknowledged report must be stored.
--
--   psql "$DB" -XAtq -v ON_ERROR_STOP=1 -f tests/bench/verify-acks.sql < acks.jsonl
--
-- Prints one JSON object. A correct collector gives 0 in every *_missing, terminals_older and
-- holdings_mismatch field. terminals_newer counts terminals whose stored snapshot is newer than
-- their last acknowledged one (a report stored but never acknowledged, e.g. given up on);
-- their holdings are not compared, since they are the newer snapshot's.

CREATE TEMP TABLE ack_raw (doc jsonb);
-- CSV with a quote and a delimiter that JSON never contains raw: each line is one jsonb value,
-- backslashes (Windows paths) included, untouched.
\copy ack_raw (doc) FROM pstdin WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02')

CREATE TEMP TABLE acks AS
SELECT doc ->> 'machine_id' AS machine_id,
       doc ->> 'report_id' AS report_id,
       (doc ->> 'seq')::int AS seq,
       timestamptz 'epoch' + (doc ->> 'scanned_at_us')::bigint * interval '1 microsecond'
           AS scanned_at,
       doc -> 'holdings' AS holdings
FROM ack_raw;

-- The newest acknowledged snapshot of each terminal (reports of one terminal are sequential).
CREATE TEMP TABLE last_acks AS
SELECT DISTINCT ON (machine_id) * FROM acks ORDER BY machine_id, seq DESC;

-- What the terminal holds now, and what its last acknowledged snapshot held, as comparable text.
CREATE TEMP TABLE compared AS
SELECT l.machine_id,
       t.id IS NOT NULL AS terminal_found,
       t.last_scanned_at,
       l.scanned_at AS acked_scanned_at,
       (SELECT string_agg(c.serial || '|' || (h.locations -> 0 ->> 'path') || '|'
                          || coalesce(h.has_private_key::text, 'null'), ','
                          ORDER BY c.serial, h.locations -> 0 ->> 'path')
        FROM holdings h JOIN certificates c ON c.sha256 = h.sha256
        WHERE h.terminal_id = t.id AND h.removed_at IS NULL) AS stored_holdings,
       (SELECT string_agg((x ->> 'serial') || '|' || (x ->> 'path') || '|'
                          || coalesce(x ->> 'has_key', 'null'), ','
                          ORDER BY x ->> 'serial', x ->> 'path')
        FROM jsonb_array_elements(l.holdings) AS x) AS acked_holdings
FROM last_acks l
LEFT JOIN terminals t ON t.machine_id = l.machine_id;

SELECT json_build_object(
    'acknowledged', (SELECT count(*) FROM acks),
    'acknowledged_distinct', (SELECT count(DISTINCT report_id) FROM acks),
    'acknowledged_missing', (
        SELECT count(*) FROM acks a
        WHERE NOT EXISTS (
            SELECT 1 FROM reports r JOIN terminals t ON t.id = r.terminal_id
            WHERE r.report_id = a.report_id AND t.machine_id = a.machine_id)),
    'terminals', (SELECT count(*) FROM compared),
    'terminals_missing', (SELECT count(*) FROM compared WHERE NOT terminal_found),
    'terminals_older', (
        SELECT count(*) FROM compared
        WHERE terminal_found
          AND (last_scanned_at IS NULL OR last_scanned_at < acked_scanned_at)),
    'terminals_newer', (
        SELECT count(*) FROM compared WHERE last_scanned_at > acked_scanned_at),
    'holdings_mismatch', (
        SELECT count(*) FROM compared
        WHERE last_scanned_at = acked_scanned_at
          AND stored_holdings IS DISTINCT FROM acked_holdings),
    'holdings_checked', (
        SELECT count(*) FROM compared WHERE last_scanned_at = acked_scanned_at)
);
