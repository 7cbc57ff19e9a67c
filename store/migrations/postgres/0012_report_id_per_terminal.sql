-- Report ids are unique per terminal, not across the fleet (issue 14). An agent makes its ids
-- up; with one global constraint, a terminal whose id repeated another terminal's had its
-- report answered "duplicate" and silently dropped. Twin: ../sqlite/0012_report_id_per_terminal.sql.
--
-- A collector of an earlier version still names the old constraint in ON CONFLICT and fails
-- its inserts once this has run: upgrade every replica together (the agents retry).
ALTER TABLE reports DROP CONSTRAINT reports_report_id_key;
CREATE UNIQUE INDEX reports_terminal_report_id ON reports (terminal_id, report_id);
