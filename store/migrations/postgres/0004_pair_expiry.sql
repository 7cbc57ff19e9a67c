-- Reports at fleet scale (issue 4): one row per live (terminal, office) pair with the
-- `not_after` of its effective certificate, kept current by a trigger on holdings. `report
-- expiring` finds its candidate pairs as one range of `pair_expiry_not_after` instead of an
-- anti-join over every holding (two thirds of the holdings expiring in a window are old
-- certificates still installed after a renewal), and the fleet-wide reports, the overview and
-- the metrics read 260k narrow rows instead of evaluating 300k holdings.
--
-- The value is the first two keys of the effective-certificate rule (SPEC §5, implemented in
-- collector/src/reports/semantics.rs): the latest `not_after` among holdings not known to lack
-- their private key, or, when every holding lacks it, the latest `not_after` of all. The
-- conformance suite checks it against the Rust rule on random holdings. The SQLite twin is
-- ../sqlite/0004_pair_expiry.sql.

CREATE TABLE pair_expiry (
    terminal_id   BIGINT NOT NULL REFERENCES terminals (id) ON DELETE CASCADE,
    office_number TEXT NOT NULL,
    not_after     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (terminal_id, office_number)
);
CREATE INDEX pair_expiry_not_after ON pair_expiry (not_after) INCLUDE (terminal_id, office_number);
CREATE INDEX pair_expiry_office ON pair_expiry (office_number, not_after);

-- Recomputes one pair from its live holdings (an index range of holdings_live_pair).
CREATE FUNCTION pair_expiry_refresh(p_terminal BIGINT, p_office TEXT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO pair_expiry (terminal_id, office_number, not_after)
    SELECT p_terminal, p_office,
           coalesce(max(not_after) FILTER (WHERE has_private_key IS DISTINCT FROM false),
                    max(not_after))
    FROM holdings
    WHERE terminal_id = p_terminal AND office_number = p_office AND removed_at IS NULL
    HAVING count(*) > 0
    ON CONFLICT (terminal_id, office_number) DO UPDATE SET not_after = EXCLUDED.not_after
        WHERE pair_expiry.not_after IS DISTINCT FROM EXCLUDED.not_after;
    DELETE FROM pair_expiry
    WHERE terminal_id = p_terminal AND office_number = p_office
      AND NOT EXISTS (SELECT 1 FROM holdings
                      WHERE terminal_id = p_terminal AND office_number = p_office
                        AND removed_at IS NULL);
$$;

CREATE FUNCTION holdings_refresh_pair_expiry() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.office_number IS NOT NULL THEN
            PERFORM pair_expiry_refresh(OLD.terminal_id, OLD.office_number);
        END IF;
        RETURN NULL;
    END IF;
    -- Neither key column of a holding changes on UPDATE, so NEW names the only affected pair.
    IF NEW.office_number IS NOT NULL THEN
        PERFORM pair_expiry_refresh(NEW.terminal_id, NEW.office_number);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER holdings_refresh_pair_expiry_insert
    AFTER INSERT OR DELETE ON holdings
    FOR EACH ROW EXECUTE FUNCTION holdings_refresh_pair_expiry();

-- Only what the rule reads: the unchanged-snapshot path (`SET last_seen`) never fires it.
CREATE TRIGGER holdings_refresh_pair_expiry_update
    AFTER UPDATE OF removed_at, has_private_key ON holdings
    FOR EACH ROW
    WHEN (OLD.removed_at IS DISTINCT FROM NEW.removed_at
          OR OLD.has_private_key IS DISTINCT FROM NEW.has_private_key)
    EXECUTE FUNCTION holdings_refresh_pair_expiry();

INSERT INTO pair_expiry (terminal_id, office_number, not_after)
SELECT terminal_id, office_number,
       coalesce(max(not_after) FILTER (WHERE has_private_key IS DISTINCT FROM false),
                max(not_after))
FROM holdings
WHERE removed_at IS NULL AND office_number IS NOT NULL
GROUP BY terminal_id, office_number;
