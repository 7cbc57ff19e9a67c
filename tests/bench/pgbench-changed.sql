-- The SQL of one changed snapshot of 3 certificates (a renewal: one new certificate, two
-- already stored, the previous new one removed) as certfleet-collector sends it on PostgreSQL
-- (collector/src/store/postgres.rs: authenticate, the missed try_unchanged CTE, then
-- ingest_once's transaction). Run with: pgbench -M prepared -n -D nterm=<terminals> -f ...
\set t random(1, :nterm)
\set r random(1, 2000000000)
SELECT id AS tid, machine_id, holdings_digest AS digest, revoked_at IS NOT NULL AS revoked FROM terminals WHERE id = :t \gset
WITH t AS (
  SELECT id FROM terminals
  WHERE id = :t AND revoked_at IS NULL AND holdings_digest = 'no-such-digest'
    AND (last_scanned_at IS NULL OR last_scanned_at <= now())
  FOR UPDATE
), r AS (
  INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome,
    certificate_count, rejected_count, scan_errors)
  SELECT 'pgbx-' || :client_id || '-' || :r, t.id, now(), now(), 'unchanged', 3, 0, '[]'::jsonb FROM t
  ON CONFLICT (report_id) DO NOTHING
  RETURNING terminal_id
)
SELECT (SELECT count(*) FROM t) AS matched, (SELECT count(*) FROM r) AS inserted;
BEGIN;
SELECT last_scanned_at, holdings_digest, revoked_at IS NOT NULL AS revoked FROM terminals WHERE id = :t FOR UPDATE;
INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome,
  certificate_count, rejected_count, scan_errors)
VALUES ('pgbc-' || :client_id || '-' || :r, :t, now(), now(), 'accepted', 3, 0, '[]'::jsonb)
ON CONFLICT (report_id) DO NOTHING RETURNING id;
INSERT INTO certificates (sha256, sha1, der, subject, issuer, subject_cn, issuer_cn,
  serial, not_before, not_after, client_auth, office_number, first_seen)
SELECT u.*, now() FROM UNNEST(
  ARRAY['pgb-' || :t || '-1', 'pgb-' || :t || '-2', encode(sha256(('pgb-new-' || :r)::bytea), 'hex')]::text[],
  ARRAY['s1', 's2', md5(:r::text)]::text[],
  ARRAY[decode(repeat(md5(:r::text), 28), 'hex'), decode(repeat(md5(:r::text), 28), 'hex'), decode(repeat(md5(:r::text), 28), 'hex')]::bytea[],
  ARRAY['CN=1000000001,O=KANAGAWA KOKUHOREN', 'CN=1000000002,O=KANAGAWA KOKUHOREN', 'CN=1000000001,O=KANAGAWA KOKUHOREN']::text[],
  ARRAY['CN=KANAGAWA KOKUHOREN CA', 'CN=KANAGAWA KOKUHOREN CA', 'CN=KANAGAWA KOKUHOREN CA']::text[],
  ARRAY['1000000001', '1000000002', '1000000001']::text[],
  ARRAY['KANAGAWA KOKUHOREN CA', 'KANAGAWA KOKUHOREN CA', 'KANAGAWA KOKUHOREN CA']::text[],
  ARRAY['01', '02', md5(:r::text)]::text[],
  ARRAY[now() - interval '100 days', now() - interval '100 days', now()]::timestamptz[],
  ARRAY[now() + interval '300 days', now() + interval '300 days', now() + interval '1095 days']::timestamptz[],
  ARRAY[true, true, true]::bool[],
  ARRAY['1000000001', '1000000002', '1000000001']::text[]) AS u
ON CONFLICT (sha256) DO NOTHING;
INSERT INTO holdings (terminal_id, sha256, locations, has_private_key,
  friendly_name, first_seen, last_seen, removed_at)
SELECT :t, u.sha256, u.locations::jsonb, u.has_key, u.friendly_name, now(), now(), NULL
FROM UNNEST(
  ARRAY['pgb-' || :t || '-1', 'pgb-' || :t || '-2', encode(sha256(('pgb-new-' || :r)::bytea), 'hex')]::text[],
  ARRAY['[{"source":"profile_file","store":"My","user":"user","path":"C:\\Users\\user0\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\0000010"}]',
        '[{"source":"profile_file","store":"My","user":"user","path":"C:\\Users\\user1\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\0000011"}]',
        '[{"source":"profile_file","store":"My","user":"user","path":"C:\\Users\\user0\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\000001r"}]']::text[],
  ARRAY[true, true, true]::bool[],
  ARRAY['', '', '']::text[]) AS u(sha256, locations, has_key, friendly_name)
ON CONFLICT (terminal_id, sha256) DO UPDATE SET
  locations = EXCLUDED.locations, has_private_key = EXCLUDED.has_private_key,
  friendly_name = EXCLUDED.friendly_name, last_seen = EXCLUDED.last_seen, removed_at = NULL;
UPDATE holdings SET removed_at = now()
WHERE terminal_id = :t AND removed_at IS NULL
  AND sha256 <> ALL(ARRAY['pgb-' || :t || '-1', 'pgb-' || :t || '-2', encode(sha256(('pgb-new-' || :r)::bytea), 'hex')]::text[]);
UPDATE terminals SET hostname = 'pc-' || :t, os_name = 'windows', os_version = '10.0.19045',
  agent_version = 'loadgen', last_report_at = now(),
  first_report_at = COALESCE(first_report_at, now()), last_scanned_at = now(),
  holdings_digest = COALESCE('pgb-digest-' || :r, holdings_digest)
WHERE id = :t;
COMMIT;
