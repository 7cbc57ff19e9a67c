-- `holdings_live_office_expiry` (migration 0003) served the candidate range of `report
-- expiring`, which migration 0004 moved to `pair_expiry_not_after`. No query reads it any more,
-- and every holding insert still had to maintain it.
DROP INDEX IF EXISTS holdings_live_office_expiry;
