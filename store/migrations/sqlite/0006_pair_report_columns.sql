-- `report expiring` as one read (issue 4): each `pair_expiry` row also carries its effective
-- certificate and the pair's superseded holdings, and each terminal its number of offices, all
-- kept by triggers. See the PostgreSQL twin ../postgres/0006_pair_report_columns.sql for why
-- and for the rule it encodes. Timestamps are fixed-width UTC text, so text order is time order.

ALTER TABLE pair_expiry ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE pair_expiry ADD COLUMN has_private_key INTEGER;
ALTER TABLE pair_expiry ADD COLUMN serial TEXT NOT NULL DEFAULT '';
ALTER TABLE pair_expiry ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE pair_expiry ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
-- JSON array of [sha256, not_after] of the pair's other live holdings; NULL when there is none.
ALTER TABLE pair_expiry ADD COLUMN superseded TEXT;

ALTER TABLE terminals ADD COLUMN office_count INTEGER NOT NULL DEFAULT 0;

-- The rule, once: every live pair's effective holding (the first in the rule's order) with its
-- certificate's details and the other live holdings as superseded. The triggers read it with
-- the pair's key (an index range of holdings_live_pair), the rebuild below reads it whole.
CREATE VIEW pair_effective AS
SELECT h.terminal_id, h.office_number, h.not_after, h.sha256, h.has_private_key,
       c.serial, c.subject, c.issuer,
       (SELECT CASE WHEN count(*) > 0 THEN json_group_array(json_array(s.sha256, s.not_after)) END
        FROM holdings s
        WHERE s.terminal_id = h.terminal_id AND s.office_number = h.office_number
          AND s.removed_at IS NULL AND s.sha256 <> h.sha256) AS superseded
FROM holdings h
JOIN certificates c ON c.sha256 = h.sha256
WHERE h.removed_at IS NULL AND h.office_number IS NOT NULL
  AND h.sha256 = (SELECT e.sha256 FROM holdings e
                  WHERE e.terminal_id = h.terminal_id AND e.office_number = h.office_number
                    AND e.removed_at IS NULL
                  ORDER BY e.has_private_key IS NOT 0 DESC, e.not_after DESC,
                           e.not_before DESC, e.sha256
                  LIMIT 1);

-- The triggers of migration 0004, now refreshing every column from the view. SQLite triggers
-- cannot call a shared routine, so the two differ only in NEW and OLD.
DROP TRIGGER holdings_refresh_pair_expiry_update;
DROP TRIGGER holdings_refresh_pair_expiry_delete;

CREATE TRIGGER holdings_refresh_pair_expiry_update
AFTER UPDATE OF office_number, removed_at, has_private_key ON holdings
FOR EACH ROW WHEN NEW.office_number IS NOT NULL
BEGIN
    DELETE FROM pair_expiry
    WHERE terminal_id = NEW.terminal_id AND office_number = NEW.office_number;
    INSERT INTO pair_expiry (terminal_id, office_number, not_after, sha256, has_private_key,
                             serial, subject, issuer, superseded)
    SELECT terminal_id, office_number, not_after, sha256, has_private_key,
           serial, subject, issuer, superseded
    FROM pair_effective
    WHERE terminal_id = NEW.terminal_id AND office_number = NEW.office_number;
END;

CREATE TRIGGER holdings_refresh_pair_expiry_delete
AFTER DELETE ON holdings
FOR EACH ROW WHEN OLD.office_number IS NOT NULL
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

-- Rebuild every row with the new columns (the old rows only had `not_after`).
DELETE FROM pair_expiry;
INSERT INTO pair_expiry (terminal_id, office_number, not_after, sha256, has_private_key,
                         serial, subject, issuer, superseded)
SELECT terminal_id, office_number, not_after, sha256, has_private_key,
       serial, subject, issuer, superseded
FROM pair_effective;

UPDATE terminals
SET office_count = (SELECT count(*) FROM pair_expiry p WHERE p.terminal_id = terminals.id);

-- A pair appears or disappears only through the triggers above; the count follows it.
CREATE TRIGGER pair_expiry_count_offices_insert
AFTER INSERT ON pair_expiry
FOR EACH ROW
BEGIN
    UPDATE terminals SET office_count = office_count + 1 WHERE id = NEW.terminal_id;
END;

CREATE TRIGGER pair_expiry_count_offices_delete
AFTER DELETE ON pair_expiry
FOR EACH ROW
BEGIN
    UPDATE terminals SET office_count = office_count - 1 WHERE id = OLD.terminal_id;
END;
