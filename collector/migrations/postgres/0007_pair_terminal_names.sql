-- `report expiring` without a join (issue 4): each `pair_expiry` row also carries its
-- terminal's hostname and machine id, so the report reads its rows from `pair_expiry` alone
-- and only the per-report columns (`last_report_at`, `office_count`) from `terminals`, in a
-- second query that runs at the same time. Both names change rarely (a renamed PC); the copy
-- follows them with a trigger that fires only when one of them actually changes, so the
-- every-report update of `terminals` does not touch `pair_expiry`. The SQLite twin is
-- ../sqlite/0007_pair_terminal_names.sql.

ALTER TABLE pair_expiry ADD COLUMN hostname TEXT, ADD COLUMN machine_id TEXT;

UPDATE pair_expiry p SET hostname = t.hostname, machine_id = t.machine_id
FROM terminals t WHERE t.id = p.terminal_id;

ALTER TABLE pair_expiry
    ALTER COLUMN hostname SET NOT NULL,
    ALTER COLUMN machine_id SET NOT NULL;

CREATE FUNCTION pair_expiry_copy_terminal_names() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT t.hostname, t.machine_id INTO NEW.hostname, NEW.machine_id
    FROM terminals t WHERE t.id = NEW.terminal_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER pair_expiry_copy_terminal_names
    BEFORE INSERT ON pair_expiry
    FOR EACH ROW EXECUTE FUNCTION pair_expiry_copy_terminal_names();

CREATE FUNCTION terminals_rename_pairs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pair_expiry SET hostname = NEW.hostname, machine_id = NEW.machine_id
    WHERE terminal_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER terminals_rename_pairs
    AFTER UPDATE OF hostname, machine_id ON terminals
    FOR EACH ROW
    WHEN (OLD.hostname IS DISTINCT FROM NEW.hostname
          OR OLD.machine_id IS DISTINCT FROM NEW.machine_id)
    EXECUTE FUNCTION terminals_rename_pairs();
