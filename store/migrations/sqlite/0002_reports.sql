-- Reports (issue 4): the office registry. The PostgreSQL twin is ../postgres/0002_reports.sql.

-- Office names, sites and owners (CSV import `certfleet-collector offices import`).
CREATE TABLE office_registry (
    office_number TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    site          TEXT NOT NULL DEFAULT '',
    owner_email   TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL
);
