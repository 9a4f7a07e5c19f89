-- Hardening of budgets (PostgreSQL dialect; the twin in the other folder has the same name).
-- Never edited once applied.

-- A budget duration saved mid-period no longer re-anchors the period (which emptied its
-- counters): the current period runs to its reset and periods of next_period_days begin at
-- next_period_from, one of its resets. Both NULL: no change scheduled.
ALTER TABLE tenants ADD COLUMN next_period_days BIGINT CHECK (next_period_days IS NULL OR next_period_days > 0);
ALTER TABLE tenants ADD COLUMN next_period_from BIGINT;

-- Set by system admins: the highest block amount (max budget × grace %) a tenant admin may
-- save for this tenant; while it is set they may not remove the budget. NULL: no ceiling.
ALTER TABLE tenants ADD COLUMN budget_ceiling_micros BIGINT
    CHECK (budget_ceiling_micros IS NULL OR budget_ceiling_micros > 0);
