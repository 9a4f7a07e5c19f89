-- Reservations held per tenant and period, kept beside reserved_tokens by the shared engine so
-- admission can cap them without counting rows (PostgreSQL dialect; the twin in the other folder
-- has the same name). Never edited once applied.
ALTER TABLE usage_counters ADD COLUMN open_reservations BIGINT NOT NULL DEFAULT 0;
UPDATE usage_counters SET open_reservations = (
    SELECT COUNT(*) FROM reservations r
    WHERE r.tenant_id = usage_counters.tenant_id AND r.period_start = usage_counters.period_start
);
