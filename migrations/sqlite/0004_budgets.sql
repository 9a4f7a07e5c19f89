-- USD budgets (SQLite dialect; the twin in the other folder has the same name). Never
-- edited once applied.

-- A tenant's budget; NULL max_budget_micros: no budget. The budget period is the tenant's
-- period (period_anchor, period_days): saving a budget with another duration re-anchors it.
ALTER TABLE tenants ADD COLUMN max_budget_micros BIGINT CHECK (max_budget_micros IS NULL OR max_budget_micros > 0);
ALTER TABLE tenants ADD COLUMN alert_threshold_pct BIGINT NOT NULL DEFAULT 80
    CHECK (alert_threshold_pct BETWEEN 50 AND 100);
ALTER TABLE tenants ADD COLUMN grace_threshold_pct BIGINT NOT NULL DEFAULT 110
    CHECK (grace_threshold_pct BETWEEN 100 AND 150);
-- The tenant's LiteLLM virtual key, if any: saving a budget updates it through /key/update.
ALTER TABLE tenants ADD COLUMN litellm_key TEXT;

-- Spend held by open reservations (shared mode), and events recorded at $0 because their
-- model had no price and no cost was reported.
ALTER TABLE usage_counters ADD COLUMN reserved_cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_counters ADD COLUMN unpriced_events BIGINT NOT NULL DEFAULT 0;
ALTER TABLE reservations ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;

-- The spend trend reads one tenant's events by time.
CREATE INDEX usage_events_by_time ON usage_events (tenant_id, occurred_at);
