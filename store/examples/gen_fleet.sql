-- Benchmark fleet for the report queries (BENCHMARKS.md "## Reports"): 100,000 terminals and
-- ~300,000 live office holdings in PostgreSQL, relative to now().
--
-- * offices per terminal: 1 (30 %), 2 (20 %), 3 (20 %), 4 (20 %), 5 (10 %) → 260,000 pairs
--   over 30,000 offices;
-- * effective certificate expiry uniform over now() − 30 days … now() + 1,095 days (so ≈ 8 %
--   of pairs are expired or expire within 60 days, as in a fleet of 3-year certificates);
-- * 15.5 % of pairs still hold their previous certificate (expired, superseded: left on the PC
--   after the renewal, as the manual describes);
-- * 2 % of effective certificates are known to lack their private key, 5 % unknown;
-- * 2 % of terminals last reported 10 days ago (stale).
-- Certificate rows are synthetic (the DER column holds a placeholder): only the fields the
-- reports read matter here.

SELECT setseed(0.42);

INSERT INTO terminals (machine_id, hostname, os_name, os_version, agent_version, node_key_hash,
                       enrolled_at, first_report_at, last_report_at, last_scanned_at)
SELECT 'bench-machine-' || i, 'pc-' || lpad(i::text, 6, '0'), 'Windows', '10.0.19045', '0.1.0',
       'bench-key-' || i, now() - interval '400 days', now() - interval '400 days',
       CASE WHEN i % 50 = 0 THEN now() - interval '10 days'
            ELSE now() - random() * interval '2 days' END,
       now() - interval '1 hour'
FROM generate_series(1, 100000) AS i;

CREATE TEMP TABLE bench_pairs AS
SELECT t.id AS terminal_id,
       (1000000000 + (t.id * 7919 + k) % 30000)::text AS office,
       now() + (random() * 1125 - 30) * interval '1 day' AS not_after,
       random() AS r
FROM terminals t
CROSS JOIN generate_series(1, 5) AS k
WHERE k <= CASE WHEN t.id % 10 < 3 THEN 1 WHEN t.id % 10 < 5 THEN 2 WHEN t.id % 10 < 7 THEN 3
                WHEN t.id % 10 < 9 THEN 4 ELSE 5 END;

CREATE TEMP TABLE bench_certs AS
SELECT terminal_id, office, not_after,
       CASE WHEN r < 0.02 THEN false WHEN r < 0.07 THEN NULL ELSE true END AS has_private_key,
       'e' || terminal_id || '-' || office AS tag
FROM bench_pairs
UNION ALL
SELECT terminal_id, office, not_after - interval '1095 days', true, 'p' || terminal_id || '-' || office
FROM bench_pairs WHERE r >= 0.845;

INSERT INTO certificates (sha256, sha1, der, subject, issuer, subject_cn, issuer_cn, serial,
                          not_before, not_after, client_auth, office_number, first_seen)
SELECT md5(tag) || md5(tag || '/2'), substr(md5(tag || '/3') || md5(tag || '/4'), 1, 40),
       decode(md5(tag), 'hex'), 'CN=' || office, 'CN=KANAGAWA KOKUHOREN CA', office,
       'KANAGAWA KOKUHOREN CA', substr(md5(tag || '/5'), 1, 16),
       not_after - interval '1095 days', not_after, true, office, now() - interval '400 days'
FROM bench_certs;

INSERT INTO holdings (terminal_id, sha256, locations, has_private_key, friendly_name, first_seen,
                      last_seen)
SELECT terminal_id, md5(tag) || md5(tag || '/2'),
       '[{"source":"profile_file","store":"My","user":"staff","path":"C:\\Users\\staff\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\x"}]'::jsonb,
       has_private_key, '', now() - interval '400 days', now() - interval '1 hour'
FROM bench_certs;

INSERT INTO office_registry (office_number, name, site, owner_email, updated_at)
SELECT (1000000000 + i)::text, '事業所 ' || i, '拠点 ' || (i % 50), 'office' || i || '@example.jp', now()
FROM generate_series(0, 29999, 1) AS i;

ANALYZE terminals;
ANALYZE certificates;
ANALYZE holdings;
ANALYZE office_registry;
