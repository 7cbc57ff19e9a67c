-- Report ids are unique per terminal, not across the fleet (issue 14). An agent makes its ids
-- up; with one global constraint, a terminal whose id repeated another terminal's had its
-- report answered "duplicate" and silently dropped. Twin: ../postgres/0012_report_id_per_terminal.sql.
--
-- SQLite cannot drop a column constraint, so the table is rebuilt with the same columns.
CREATE TABLE reports_per_terminal (
    id                INTEGER PRIMARY KEY,
    report_id         TEXT NOT NULL,
    terminal_id       INTEGER NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    scanned_at        TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    outcome           TEXT NOT NULL CHECK (outcome IN ('accepted', 'unchanged', 'superseded')),
    certificate_count INTEGER NOT NULL,
    rejected_count    INTEGER NOT NULL,
    scan_errors       TEXT NOT NULL DEFAULT '[]',
    UNIQUE (terminal_id, report_id)
);
INSERT INTO reports_per_terminal (id, report_id, terminal_id, scanned_at, received_at, outcome,
    certificate_count, rejected_count, scan_errors)
SELECT id, report_id, terminal_id, scanned_at, received_at, outcome, certificate_count,
    rejected_count, scan_errors
FROM reports;
DROP TABLE reports;
ALTER TABLE reports_per_terminal RENAME TO reports;
CREATE INDEX reports_terminal_received ON reports (terminal_id, received_at);
