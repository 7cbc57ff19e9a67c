-- Reports (issue 4): copies of the certificate fields the reports filter on, kept on the
-- holding row, so the report queries read one narrow index instead of joining 300k holdings
-- with 300k certificates. Certificates are immutable (keyed by the SHA-256 of their DER), so
-- the copies can never go stale; a trigger fills them, and ingest needs no change.
-- The SQLite twin is ../sqlite/0003_holding_report_columns.sql.

ALTER TABLE holdings
    ADD COLUMN office_number TEXT,
    ADD COLUMN not_before TIMESTAMPTZ,
    ADD COLUMN not_after TIMESTAMPTZ;

UPDATE holdings h
SET office_number = c.office_number, not_before = c.not_before, not_after = c.not_after
FROM certificates c
WHERE c.sha256 = h.sha256;

CREATE FUNCTION holdings_copy_certificate_fields() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.office_number, c.not_before, c.not_after
    INTO NEW.office_number, NEW.not_before, NEW.not_after
    FROM certificates c
    WHERE c.sha256 = NEW.sha256;
    RETURN NEW;
END
$$;

-- BEFORE INSERT also covers ingest's INSERT … ON CONFLICT DO UPDATE: a conflicting row already
-- carries the (immutable) copies.
CREATE TRIGGER holdings_copy_certificate_fields
    BEFORE INSERT ON holdings
    FOR EACH ROW EXECUTE FUNCTION holdings_copy_certificate_fields();

-- `report expiring`: candidate holdings with not_after <= as_of + W (index-only range scan).
CREATE INDEX holdings_live_office_expiry ON holdings (not_after)
    INCLUDE (terminal_id, office_number)
    WHERE removed_at IS NULL AND office_number IS NOT NULL;

-- Every live holding of a (terminal, office) pair: the "renewed?" anti-join of `report
-- expiring`, and an index-only full scan for the fleet-wide reports, overview and metrics.
CREATE INDEX holdings_live_pair ON holdings (terminal_id, office_number, not_after)
    INCLUDE (not_before, has_private_key)
    WHERE removed_at IS NULL AND office_number IS NOT NULL;

-- `report expiring --office N`.
CREATE INDEX holdings_live_office ON holdings (office_number, not_after)
    WHERE removed_at IS NULL AND office_number IS NOT NULL;
