-- The expected-terminal list (SQLite). Twin: ../postgres/0030_expected_terminals.sql (see
-- there for the rules). Timestamps are the store's fixed-width UTC text form.
CREATE TABLE expected_terminals (
    position     INTEGER NOT NULL,
    hostname     TEXT NOT NULL CHECK (hostname <> ''),
    hostname_key TEXT NOT NULL PRIMARY KEY,
    machine_id   TEXT,
    offices      TEXT NOT NULL,
    imported_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX expected_terminals_machine_id ON expected_terminals (machine_id)
    WHERE machine_id IS NOT NULL;
