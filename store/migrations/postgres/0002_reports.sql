-- Reports (issue 4): the office registry. The SQLite twin is ../sqlite/0002_reports.sql.
--
-- The report queries themselves need no new index: candidate pairs come from the partial
-- indexes of 0001 (certificates_office_cert_not_after / certificates_office_not_after and
-- holdings_live_by_certificate), and the other holdings of a pair from the holdings primary
-- key (terminal_id, sha256). See BENCHMARKS.md "## Reports" for the plans.

-- Office names, sites and owners (CSV import `certfleet-collector offices import`).
CREATE TABLE office_registry (
    office_number TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    site          TEXT NOT NULL DEFAULT '',
    owner_email   TEXT NOT NULL DEFAULT '',
    updated_at    TIMESTAMPTZ NOT NULL
);
