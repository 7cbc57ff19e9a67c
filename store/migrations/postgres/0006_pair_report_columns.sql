-- `report expiring` as one read (issue 4): each `pair_expiry` row also carries its effective
-- certificate (sha256, key flag, serial, subject, issuer) and the pair's superseded holdings,
-- and each terminal its number of offices, all kept by triggers. The report then reads the
-- candidate pairs with one join to terminals instead of fetching every holding of every
-- candidate pair, one certificate per holding and three follow-up queries.
--
-- The choice is the whole effective-certificate rule of SPEC §5 (collector/src/reports/
-- semantics.rs, `CertKey::rank_cmp`): holdings not known to lack their private key first, then
-- the latest `not_after`, the latest `not_before`, the smallest sha256. The conformance test
-- `pair_rows_follow_the_effective_rule` (collector/tests/reports.rs) checks every stored
-- column against the Rust rule on random holdings. The SQLite twin is
-- ../sqlite/0006_pair_report_columns.sql.

ALTER TABLE pair_expiry
    ADD COLUMN sha256 TEXT,
    ADD COLUMN has_private_key BOOLEAN,
    ADD COLUMN serial TEXT,
    ADD COLUMN subject TEXT,
    ADD COLUMN issuer TEXT,
    -- JSON array of [sha256, not_after] of the pair's other live holdings; NULL when there is
    -- none. Text, not jsonb, so both backends hand the same string to the same decoder.
    ADD COLUMN superseded TEXT;

-- Live (terminal, office) pairs of the terminal: what `terminal_office_count` reports.
ALTER TABLE terminals ADD COLUMN office_count INTEGER NOT NULL DEFAULT 0;

-- The rule, once: every live pair's effective holding with its certificate's details and the
-- other live holdings as superseded. The refresh of one pair reads it with the pair's key,
-- which PostgreSQL pushes into the DISTINCT ON (an index range of holdings_live_pair); the
-- rebuild below reads it whole.
CREATE VIEW pair_effective AS
SELECT e.terminal_id, e.office_number, e.not_after, e.sha256, e.has_private_key,
       c.serial, c.subject, c.issuer,
       (SELECT json_agg(json_build_array(s.sha256, s.not_after)
                        ORDER BY s.not_after DESC, s.sha256 COLLATE "C")::text
        FROM holdings s
        WHERE s.terminal_id = e.terminal_id AND s.office_number = e.office_number
          AND s.removed_at IS NULL AND s.sha256 <> e.sha256) AS superseded
FROM (
    SELECT DISTINCT ON (h.terminal_id, h.office_number)
           h.terminal_id, h.office_number, h.sha256, h.not_after, h.has_private_key
    FROM holdings h
    WHERE h.removed_at IS NULL AND h.office_number IS NOT NULL
    ORDER BY h.terminal_id, h.office_number, h.has_private_key IS DISTINCT FROM false DESC,
             h.not_after DESC, h.not_before DESC, h.sha256 COLLATE "C"
) e
JOIN certificates c ON c.sha256 = e.sha256;

-- Recomputes one pair. PL/pgSQL, not SQL, because PostgreSQL keeps a PL/pgSQL function's plans
-- for the session, while it plans a SQL function's body again on every call: this runs for
-- every changed holding, and the SQL-language version of migration 0004 spent most of its time
-- planning.
CREATE OR REPLACE FUNCTION pair_expiry_refresh(p_terminal BIGINT, p_office TEXT) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM holdings
                   WHERE terminal_id = p_terminal AND office_number = p_office
                     AND removed_at IS NULL) THEN
        DELETE FROM pair_expiry WHERE terminal_id = p_terminal AND office_number = p_office;
        RETURN;
    END IF;
    INSERT INTO pair_expiry (terminal_id, office_number, not_after, sha256, has_private_key,
                             serial, subject, issuer, superseded)
    SELECT terminal_id, office_number, not_after, sha256, has_private_key,
           serial, subject, issuer, superseded
    FROM pair_effective WHERE terminal_id = p_terminal AND office_number = p_office
    ON CONFLICT (terminal_id, office_number) DO UPDATE SET
        not_after = EXCLUDED.not_after, sha256 = EXCLUDED.sha256,
        has_private_key = EXCLUDED.has_private_key, serial = EXCLUDED.serial,
        subject = EXCLUDED.subject, issuer = EXCLUDED.issuer, superseded = EXCLUDED.superseded
        WHERE (pair_expiry.not_after, pair_expiry.sha256, pair_expiry.has_private_key,
               pair_expiry.superseded)
              IS DISTINCT FROM (EXCLUDED.not_after, EXCLUDED.sha256, EXCLUDED.has_private_key,
                                EXCLUDED.superseded);
END
$$;

-- Rebuild every row with the new columns (the old rows only had `not_after`).
DELETE FROM pair_expiry;
INSERT INTO pair_expiry (terminal_id, office_number, not_after, sha256, has_private_key,
                         serial, subject, issuer, superseded)
SELECT terminal_id, office_number, not_after, sha256, has_private_key,
       serial, subject, issuer, superseded
FROM pair_effective;

ALTER TABLE pair_expiry
    ALTER COLUMN sha256 SET NOT NULL,
    ALTER COLUMN serial SET NOT NULL,
    ALTER COLUMN subject SET NOT NULL,
    ALTER COLUMN issuer SET NOT NULL;

UPDATE terminals t SET office_count = n.count
FROM (SELECT terminal_id, count(*) AS count FROM pair_expiry GROUP BY terminal_id) n
WHERE n.terminal_id = t.id;

-- A pair appears or disappears only through the refresh above; the count follows it. The row
-- of the terminal is already locked by the ingest transaction that changed its holdings.
CREATE FUNCTION pair_expiry_count_offices() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE terminals SET office_count = office_count + 1 WHERE id = NEW.terminal_id;
    ELSE
        UPDATE terminals SET office_count = office_count - 1 WHERE id = OLD.terminal_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER pair_expiry_count_offices
    AFTER INSERT OR DELETE ON pair_expiry
    FOR EACH ROW EXECUTE FUNCTION pair_expiry_count_offices();
