-- How many PCs an office expects to use (issue 17 §3, SQLite; twin:
-- ../postgres/0022_office_expected_pcs.sql, see there).
ALTER TABLE office_registry
    ADD COLUMN expected_pcs INTEGER CHECK (expected_pcs BETWEEN 1 AND 1000);
