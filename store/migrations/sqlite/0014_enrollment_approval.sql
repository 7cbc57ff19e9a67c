-- Enrollment trust (issue 14). Twin: ../postgres/0014_enrollment_approval.sql.
--
-- pending_since: set when a terminal enrolled while `[enroll] approval` was on; its reports are
-- stored but count in no report, metric or alert until an operator approves it (cleared).
-- enrolled_from: the client address of its latest enrollment, for the operator who approves.
ALTER TABLE terminals ADD COLUMN pending_since TEXT;
ALTER TABLE terminals ADD COLUMN enrolled_from TEXT;
CREATE INDEX terminals_pending ON terminals (pending_since) WHERE pending_since IS NOT NULL;
