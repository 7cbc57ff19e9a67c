-- How many PCs an office expects to use (issue 17 §3, PostgreSQL; twin:
-- ../sqlite/0022_office_expected_pcs.sql): the optional fifth column of the registry CSV.
-- NULL: not stated. The office page shows renewal progress against it ("renewed on 2 of 3
-- PCs"), so a PC that never reported still counts.
ALTER TABLE office_registry
    ADD COLUMN expected_pcs INTEGER CHECK (expected_pcs BETWEEN 1 AND 1000);
