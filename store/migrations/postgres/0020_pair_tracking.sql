-- Renewal tracking per (terminal, office) pair (issue 17 §1, PostgreSQL). Twin:
-- ../sqlite/0020_pair_tracking.sql.
--
-- `pair_tracking` holds the current entry of a tracked pair: what the operator did (requested,
-- password reissue requested, on hold until a date, retired) or what certfleet saw (renewed).
-- *Stuck* and *not started* are not stored: they follow from the entry, the date and the
-- settings (`reports/src/semantics.rs`). `baseline_not_after` is the pair's effective
-- `not_after` when the entry was written; a snapshot whose effective certificate ends later is
-- the renewal, and ingest closes the entry as `renewed` in the same transaction.
--
-- Entries are keyed like `pair_expiry` but do not reference it: a pair whose certificate
-- vanished keeps its entry (it is still being renewed). A revoked or deleted terminal's entries
-- go with the terminal.
CREATE TABLE pair_tracking (
    terminal_id        BIGINT NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    office_number      TEXT NOT NULL,
    state              TEXT NOT NULL
        CHECK (state IN ('requested', 'reissue', 'on_hold', 'retired', 'renewed')),
    -- The day the certsrv request was made (requested, reissue).
    requested_on       DATE,
    -- The day an on-hold entry ends.
    hold_until         DATE,
    -- Operator's note, or the reason of a hold.
    note               TEXT NOT NULL DEFAULT '',
    baseline_not_after TIMESTAMPTZ NOT NULL,
    renewed_at         TIMESTAMPTZ,
    renewed_not_after  TIMESTAMPTZ,
    changed_at         TIMESTAMPTZ NOT NULL,
    changed_by         TEXT NOT NULL,
    PRIMARY KEY (terminal_id, office_number)
);
CREATE INDEX pair_tracking_state ON pair_tracking (state);

-- Every change of an entry, append-only: who, when, the state before and after (NULL: no
-- entry) and both entries as JSON. Issue 17 §6's audit log builds on it. No foreign key: the
-- history outlives the terminal.
CREATE TABLE pair_tracking_history (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    terminal_id   BIGINT NOT NULL,
    office_number TEXT NOT NULL,
    changed_at    TIMESTAMPTZ NOT NULL,
    changed_by    TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT,
    note          TEXT NOT NULL DEFAULT '',
    before        JSONB,
    after         JSONB
);
CREATE INDEX pair_tracking_history_pair
    ON pair_tracking_history (terminal_id, office_number, id);
