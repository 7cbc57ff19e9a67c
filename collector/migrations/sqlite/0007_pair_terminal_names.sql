-- `report expiring` without a join (issue 4): each `pair_expiry` row also carries its
-- terminal's hostname and machine id, kept by triggers. See the PostgreSQL twin
-- ../postgres/0007_pair_terminal_names.sql for why.

ALTER TABLE pair_expiry ADD COLUMN hostname TEXT NOT NULL DEFAULT '';
ALTER TABLE pair_expiry ADD COLUMN machine_id TEXT NOT NULL DEFAULT '';

UPDATE pair_expiry
SET hostname = (SELECT t.hostname FROM terminals t WHERE t.id = pair_expiry.terminal_id),
    machine_id = (SELECT t.machine_id FROM terminals t WHERE t.id = pair_expiry.terminal_id);

-- SQLite triggers cannot assign NEW, so the new row is updated after the insert.
CREATE TRIGGER pair_expiry_copy_terminal_names
AFTER INSERT ON pair_expiry
FOR EACH ROW
BEGIN
    UPDATE pair_expiry
    SET hostname = (SELECT t.hostname FROM terminals t WHERE t.id = NEW.terminal_id),
        machine_id = (SELECT t.machine_id FROM terminals t WHERE t.id = NEW.terminal_id)
    WHERE terminal_id = NEW.terminal_id AND office_number = NEW.office_number;
END;

CREATE TRIGGER terminals_rename_pairs
AFTER UPDATE OF hostname, machine_id ON terminals
FOR EACH ROW
WHEN OLD.hostname IS NOT NEW.hostname OR OLD.machine_id IS NOT NEW.machine_id
BEGIN
    UPDATE pair_expiry SET hostname = NEW.hostname, machine_id = NEW.machine_id
    WHERE terminal_id = NEW.id;
END;
