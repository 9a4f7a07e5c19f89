-- Per-user overrides, per-user counters and enforcement modes (PostgreSQL dialect; the SQLite twin
-- has the same name). Never edited once applied.

-- A user's own token limit inside a tenant. A user without a row shares the tenant's total;
-- with one, both the override and the tenant's own limits hold.
CREATE TABLE user_limits (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL,               -- the end user an agent acts for (as reported)
    token_limit BIGINT NOT NULL CHECK (token_limit > 0),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Running totals per user and period, kept for every user an event names (so an override
-- added mid-period starts from what the user has already used), in the report's transaction.
-- reserved_* hold what admitted calls of users with an override have reserved (shared mode).
CREATE TABLE user_usage_counters (
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    user_id              TEXT NOT NULL,
    period_start         BIGINT NOT NULL,
    input_tokens         BIGINT NOT NULL DEFAULT 0,
    output_tokens        BIGINT NOT NULL DEFAULT 0,
    cost_micros          BIGINT NOT NULL DEFAULT 0,
    event_count          BIGINT NOT NULL DEFAULT 0,
    reserved_tokens      BIGINT NOT NULL DEFAULT 0,
    reserved_cost_micros BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, user_id, period_start)
);

-- A shared-mode reservation made for a user with an override also holds the user's row.
ALTER TABLE reservations ADD COLUMN user_id TEXT;

-- off (record only), monitor (decide and count, never refuse), enforce; NULL: the server's
-- default mode.
ALTER TABLE tenants ADD COLUMN enforcement_mode TEXT
    CHECK (enforcement_mode IS NULL OR enforcement_mode IN ('off', 'monitor', 'enforce'));
-- Calls a monitored tenant would have had refused this period.
ALTER TABLE usage_counters ADD COLUMN would_refuse_count BIGINT NOT NULL DEFAULT 0;

-- The history API and the usage-by-user view read one tenant's events by user and time.
CREATE INDEX usage_events_by_user ON usage_events (tenant_id, user_id, occurred_at);
