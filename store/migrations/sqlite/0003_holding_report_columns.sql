-- Reports (issue 4): certificate fields copied onto holdings for the report queries (see the
-- PostgreSQL twin ../postgres/0003_holding_report_columns.sql for why). SQLite triggers cannot
-- assign NEW, so an AFTER INSERT trigger updates the new row.

ALTER TABLE holdings ADD COLUMN office_number TEXT;
ALTER TABLE holdings ADD COLUMN not_before TEXT;
ALTER TABLE holdings ADD COLUMN not_after TEXT;

UPDATE holdings
SET office_number = (SELECT c.office_number FROM certificates c WHERE c.sha256 = holdings.sha256),
    not_before = (SELECT c.not_before FROM certificates c WHERE c.sha256 = holdings.sha256),
    not_after = (SELECT c.not_after FROM certificates c WHERE c.sha256 = holdings.sha256);

CREATE TRIGGER holdings_copy_certificate_fields
AFTER INSERT ON holdings
FOR EACH ROW
BEGIN
    UPDATE holdings
    SET office_number = (SELECT office_number FROM certificates WHERE sha256 = NEW.sha256),
        not_before = (SELECT not_before FROM certificates WHERE sha256 = NEW.sha256),
        not_after = (SELECT not_after FROM certificates WHERE sha256 = NEW.sha256)
    WHERE terminal_id = NEW.terminal_id AND sha256 = NEW.sha256;
END;

CREATE INDEX holdings_live_office_expiry ON holdings (not_after, terminal_id, office_number)
    WHERE removed_at IS NULL AND office_number IS NOT NULL;
CREATE INDEX holdings_live_pair ON holdings (terminal_id, office_number, not_after)
    WHERE removed_at IS NULL AND office_number IS NOT NULL;
CREATE INDEX holdings_live_office ON holdings (office_number, not_after)
    WHERE removed_at IS NULL AND office_number IS NOT NULL;
