-- `report expiring` without joins (issue 4): each `pair_expiry` row also carries its terminal's
-- hostname and machine id and its office's registry name, kept by triggers. See the PostgreSQL
-- twin ../postgres/0007_pair_names.sql for why.

ALTER TABLE pair_expiry ADD COLUMN hostname TEXT NOT NULL DEFAULT '';
ALTER TABLE pair_expiry ADD COLUMN machine_id TEXT NOT NULL DEFAULT '';
-- NULL: the office is not in the registry.
ALTER TABLE pair_expiry ADD COLUMN office_name TEXT;

UPDATE pair_expiry
SET hostname = (SELECT t.hostname FROM terminals t WHERE t.id = pair_expiry.terminal_id),
    machine_id = (SELECT t.machine_id FROM terminals t WHERE t.id = pair_expiry.terminal_id),
    office_name = (SELECT r.name FROM office_registry r
                   WHERE r.office_number = pair_expiry.office_number);

-- SQLite triggers cannot assign NEW, so the new row is updated after the insert.
CREATE TRIGGER pair_expiry_copy_names
AFTER INSERT ON pair_expiry
FOR EACH ROW
BEGIN
    UPDATE pair_expiry
    SET hostname = (SELECT t.hostname FROM terminals t WHERE t.id = NEW.terminal_id),
        machine_id = (SELECT t.machine_id FROM terminals t WHERE t.id = NEW.terminal_id),
        office_name = (SELECT r.name FROM office_registry r
                       WHERE r.office_number = NEW.office_number)
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

-- Registry entries are only inserted or updated (`offices import` upserts).
CREATE TRIGGER office_registry_name_pairs_insert
AFTER INSERT ON office_registry
FOR EACH ROW
BEGIN
    UPDATE pair_expiry SET office_name = NEW.name
    WHERE office_number = NEW.office_number AND office_name IS NOT NEW.name;
END;

CREATE TRIGGER office_registry_name_pairs_update
AFTER UPDATE OF name ON office_registry
FOR EACH ROW
BEGIN
    UPDATE pair_expiry SET office_name = NEW.name
    WHERE office_number = NEW.office_number AND office_name IS NOT NEW.name;
END;
