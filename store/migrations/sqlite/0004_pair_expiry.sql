-- Reports at fleet scale (issue 4): one row per live (terminal, office) pair with the
-- `not_after` of its effective certificate, kept current by triggers on holdings. See the
-- PostgreSQL twin ../postgres/0004_pair_expiry.sql for why and for the rule it encodes.
--
-- The UPDATE trigger also covers inserts: the AFTER INSERT trigger of migration 0003 fills
-- `office_number`/`not_after` with an UPDATE of the new row, which fires it.

CREATE TABLE pair_expiry (
    terminal_id   INTEGER NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    office_number TEXT NOT NULL,
    not_after     TEXT NOT NULL,
    PRIMARY KEY (terminal_id, office_number)
) WITHOUT ROWID;
CREATE INDEX pair_expiry_not_after ON pair_expiry (not_after, terminal_id, office_number);
CREATE INDEX pair_expiry_office ON pair_expiry (office_number, not_after);

CREATE TRIGGER holdings_refresh_pair_expiry_update
AFTER UPDATE OF office_number, removed_at, has_private_key ON holdings
FOR EACH ROW WHEN NEW.office_number IS NOT NULL
BEGIN
    DELETE FROM pair_expiry
    WHERE terminal_id = NEW.terminal_id AND office_number = NEW.office_number;
    INSERT INTO pair_expiry (terminal_id, office_number, not_after)
    SELECT NEW.terminal_id, NEW.office_number,
           coalesce(max(CASE WHEN has_private_key IS NOT 0 THEN not_after END), max(not_after))
    FROM holdings
    WHERE terminal_id = NEW.terminal_id AND office_number = NEW.office_number
      AND removed_at IS NULL
    HAVING count(*) > 0;
END;

CREATE TRIGGER holdings_refresh_pair_expiry_delete
AFTER DELETE ON holdings
FOR EACH ROW WHEN OLD.office_number IS NOT NULL
BEGIN
    DELETE FROM pair_expiry
    WHERE terminal_id = OLD.terminal_id AND office_number = OLD.office_number;
    INSERT INTO pair_expiry (terminal_id, office_number, not_after)
    SELECT OLD.terminal_id, OLD.office_number,
           coalesce(max(CASE WHEN has_private_key IS NOT 0 THEN not_after END), max(not_after))
    FROM holdings
    WHERE terminal_id = OLD.terminal_id AND office_number = OLD.office_number
      AND removed_at IS NULL
    HAVING count(*) > 0;
END;

INSERT INTO pair_expiry (terminal_id, office_number, not_after)
SELECT terminal_id, office_number,
       coalesce(max(CASE WHEN has_private_key IS NOT 0 THEN not_after END), max(not_after))
FROM holdings
WHERE removed_at IS NULL AND office_number IS NOT NULL
GROUP BY terminal_id, office_number;
