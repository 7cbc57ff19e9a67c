-- One simulated year on top of gen_fleet.sql's fleet (BENCHMARKS.md "Retention"), for the
-- database size at 100,000 terminals. Run by store/examples/bench_retention.sh, one month of
-- reports per call with :first_day and :last_day (days before now, first > last), so the rows
-- arrive in time order as they would, and the history part once with :history = 1.
--
-- * reports: one per terminal and day, as the daily agent sends them. report_id is a UUID in
--   text (as agents make them); every 30th report of a terminal is 'accepted' (something
--   changed), the others 'unchanged'; three certificates, no scan errors.
-- * history (once): every certificate row gets a DER as large as a real one, and a year of renewals of 3-year certificates, i.e. a third of the 260,000
--   (terminal, office) pairs: the previous certificate was removed from the PC on a day of the
--   year (a removed holding, and its certificate row).

INSERT INTO reports (report_id, terminal_id, scanned_at, received_at, outcome,
                     certificate_count, rejected_count)
SELECT md5(t.id || '/' || d)::uuid::text, t.id,
       now() - d * interval '1 day' - (t.id % 14400) * interval '1 second' - interval '2 seconds',
       now() - d * interval '1 day' - (t.id % 14400) * interval '1 second',
       CASE WHEN (t.id + d) % 30 = 0 THEN 'accepted' ELSE 'unchanged' END, 3, 0
FROM generate_series(:first_day, :last_day, -1) AS d
CROSS JOIN terminals t
WHERE :history = 0
ORDER BY d, t.id;

CREATE TEMP TABLE renewed AS
SELECT h.terminal_id, c.office_number AS office, c.not_after,
       'r' || h.terminal_id || '-' || c.office_number AS tag,
       now() - random() * interval '365 days' AS removed_at
FROM holdings h JOIN certificates c ON c.sha256 = h.sha256
WHERE :history = 1 AND h.removed_at IS NULL AND c.not_after > now()
  AND (h.terminal_id + c.office_number::bigint) % 3 = 0;

INSERT INTO certificates (sha256, sha1, der, subject, issuer, subject_cn, issuer_cn, serial,
                          not_before, not_after, client_auth, office_number, first_seen)
SELECT md5(tag) || md5(tag || '/2'), substr(md5(tag || '/3') || md5(tag || '/4'), 1, 40),
       decode(md5(tag) || md5(tag || '/6') || md5(tag || '/7'), 'hex'), 'CN=' || office,
       'CN=KANAGAWA KOKUHOREN CA', office, 'KANAGAWA KOKUHOREN CA', substr(md5(tag || '/5'), 1, 16),
       not_after - interval '2190 days', not_after - interval '1095 days', true, office,
       now() - interval '1500 days'
FROM renewed;

INSERT INTO holdings (terminal_id, sha256, locations, has_private_key, friendly_name, first_seen,
                      last_seen, removed_at)
SELECT terminal_id, md5(tag) || md5(tag || '/2'),
       '[{"source":"profile_file","store":"My","user":"staff","path":"C:\\Users\\staff\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\x"}]'::jsonb,
       true, '', now() - interval '1500 days', removed_at, removed_at
FROM renewed;

-- Certificate rows as large as real ones: gen_fleet.sql's DER column is a 16-byte placeholder,
-- a KANAGAWA client certificate (RSA 2048) is about 1,200 bytes, incompressible.
UPDATE certificates
SET der = (SELECT decode(string_agg(md5(sha256 || '/' || i), ''), 'hex')
           FROM generate_series(1, 75) AS i)
WHERE :history = 1;
