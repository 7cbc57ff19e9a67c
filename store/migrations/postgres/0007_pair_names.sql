-- `report expiring` without joins (issue 4): each `pair_expiry` row also carries its terminal's
-- hostname and machine id and its office's registry name, so the report reads its rows from
-- `pair_expiry` alone and only the per-report columns (`last_report_at`, `office_count`) from
-- `terminals`, in a second query that runs at the same time. The names change rarely (a renamed
-- PC, a registry import); the copies follow them with triggers that fire only when a name
-- actually changes, so the every-report update of `terminals` does not touch `pair_expiry`.
-- The SQLite twin is ../sqlite/0007_pair_names.sql.

ALTER TABLE pair_expiry
    ADD COLUMN hostname TEXT,
    ADD COLUMN machine_id TEXT,
    -- NULL: the office is not in the registry.
    ADD COLUMN office_name TEXT;

UPDATE pair_expiry p SET hostname = t.hostname, machine_id = t.machine_id
FROM terminals t WHERE t.id = p.terminal_id;
UPDATE pair_expiry p SET office_name = r.name
FROM office_registry r WHERE r.office_number = p.office_number;

ALTER TABLE pair_expiry
    ALTER COLUMN hostname SET NOT NULL,
    ALTER COLUMN machine_id SET NOT NULL;

CREATE FUNCTION pair_expiry_copy_names() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT t.hostname, t.machine_id INTO NEW.hostname, NEW.machine_id
    FROM terminals t WHERE t.id = NEW.terminal_id;
    -- No registry entry leaves NULL.
    SELECT r.name INTO NEW.office_name
    FROM office_registry r WHERE r.office_number = NEW.office_number;
    RETURN NEW;
END
$$;

CREATE TRIGGER pair_expiry_copy_names
    BEFORE INSERT ON pair_expiry
    FOR EACH ROW EXECUTE FUNCTION pair_expiry_copy_names();

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

-- Registry entries are only inserted or updated (`offices import` upserts); the office's pairs
-- are an index range of `pair_expiry_office`.
CREATE FUNCTION office_registry_name_pairs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE pair_expiry SET office_name = NEW.name
    WHERE office_number = NEW.office_number AND office_name IS DISTINCT FROM NEW.name;
    RETURN NULL;
END
$$;

CREATE TRIGGER office_registry_name_pairs
    AFTER INSERT OR UPDATE OF name ON office_registry
    FOR EACH ROW EXECUTE FUNCTION office_registry_name_pairs();
