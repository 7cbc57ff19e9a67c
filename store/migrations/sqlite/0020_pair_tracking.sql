-- Renewal tracking per (terminal, office) pair (issue 17 §1, SQLite). Twin:
-- ../postgres/0020_pair_tracking.sql (see there for the rules). Timestamps are the store's
-- fixed-width UTC text form, dates `YYYY-MM-DD`.
CREATE TABLE pair_tracking (
    terminal_id        INTEGER NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    office_number      TEXT NOT NULL,
    state              TEXT NOT NULL
        CHECK (state IN ('requested', 'reissue', 'on_hold', 'retired', 'renewed')),
    requested_on       TEXT,
    hold_until         TEXT,
    note               TEXT NOT NULL DEFAULT '',
    baseline_not_after TEXT NOT NULL,
    renewed_at         TEXT,
    renewed_not_after  TEXT,
    changed_at         TEXT NOT NULL,
    changed_by         TEXT NOT NULL,
    PRIMARY KEY (terminal_id, office_number)
) WITHOUT ROWID;
CREATE INDEX pair_tracking_state ON pair_tracking (state);

CREATE TABLE pair_tracking_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    terminal_id   INTEGER NOT NULL,
    office_number TEXT NOT NULL,
    changed_at    TEXT NOT NULL,
    changed_by    TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT,
    note          TEXT NOT NULL DEFAULT '',
    before        TEXT,
    after         TEXT
);
CREATE INDEX pair_tracking_history_pair
    ON pair_tracking_history (terminal_id, office_number, id);
