-- The expected-terminal list (PostgreSQL), issue 17 §4. Twin: ../sqlite/0030_expected_terminals.sql.
--
-- The PCs an operator expects to report, imported from an asset inventory or an AD export by
-- `certfleet-collector coverage import` (collector/src/coverage.rs). An import replaces the
-- whole list in one transaction, so the table is always exactly one imported file.
-- `hostname_key` is the hostname lower-cased (Windows host names are case-insensitive) and is
-- what reports match on; `machine_id`, when given, wins over the hostname. `offices` holds the
-- office numbers expected on the PC, space-separated (they are ASCII, checked by the
-- `[selection]` office rule before they get here). `position` keeps the file's order.
CREATE TABLE expected_terminals (
    position     INTEGER NOT NULL,
    hostname     TEXT NOT NULL CHECK (hostname <> ''),
    hostname_key TEXT NOT NULL PRIMARY KEY,
    machine_id   TEXT,
    offices      TEXT NOT NULL,
    imported_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX expected_terminals_machine_id ON expected_terminals (machine_id)
    WHERE machine_id IS NOT NULL;
