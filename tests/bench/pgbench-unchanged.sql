-- The SQL of one unchanged ("repeat") snapshot as certfleet-collector sends it on PostgreSQL
-- (collector/src/store/postgres.rs: authenticate, then try_unchanged's single CTE statement).
-- The authentication lookup is by id instead of node_key_hash (both are unique-index probes)
-- so pgbench can fetch the terminal's current digest with \gset.
-- Run with: pgbench -M prepared -n -D nterm=<terminals> -f pgbench-unchanged.sql
\set t random(1, :nterm)
\set r random(1, 2000000000)
SELECT id AS tid, machine_id, holdings_digest AS digest, revoked_at IS NOT NULL AS revoked FROM terminals WHERE id = :t \gset
WITH t AS (
  SELECT id FROM terminals
  WHERE id = :t AND revoked_at IS NULL AND holdings_digest = :digest
    AND (last_scanned_at IS NULL OR last_scanned_at <= now())
  FOR UPDATE
), r AS (
  INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome,
    certificate_count, rejected_count, scan_errors)
  SELECT 'pgbu-' || :client_id || '-' || :r, t.id, now(), now(), 'unchanged', 3, 0, '[]'::jsonb FROM t
  ON CONFLICT (report_id) DO NOTHING
  RETURNING terminal_id
), h AS (
  UPDATE holdings SET last_seen = now() FROM r
  WHERE holdings.terminal_id = r.terminal_id AND holdings.removed_at IS NULL
), u AS (
  UPDATE terminals SET hostname = 'pc-' || :t, os_name = 'windows', os_version = '10.0.19045',
    agent_version = 'loadgen', last_report_at = now(),
    first_report_at = COALESCE(first_report_at, now()), last_scanned_at = now()
  FROM r WHERE terminals.id = r.terminal_id
)
SELECT (SELECT count(*) FROM t) AS matched, (SELECT count(*) FROM r) AS inserted;
