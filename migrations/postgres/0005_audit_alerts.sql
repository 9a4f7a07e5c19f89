-- The audit log and budget alerts (PostgreSQL dialect; the SQLite twin has the same name).
-- Never edited once applied.

-- Every change to token limits, budgets, agents and console users, written in the same
-- transaction as the change.
CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,                 -- a console user name, or cli / bootstrap / demo
    tenant_id TEXT,                          -- the tenant concerned, if the change is about one
    action    TEXT NOT NULL,                 -- budget_config_updated, token_limit_changed, …
    old_value TEXT,                          -- JSON, NULL when there was nothing before
    new_value TEXT                           -- JSON, NULL when the thing was removed
);
CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, id);

-- Budget alerts: each type at most once per tenant per period (the unique key), stored with
-- what the tenant stood at, and delivered to the webhook from here (an outbox).
CREATE TABLE budget_alerts (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    period_start        BIGINT NOT NULL,
    alert_type          TEXT NOT NULL CHECK (alert_type IN ('threshold', 'exceeded', 'blocked', 'projected')),
    created_at          BIGINT NOT NULL,
    spend_micros        BIGINT NOT NULL,
    max_budget_micros   BIGINT NOT NULL,
    alert_threshold_pct BIGINT NOT NULL,     -- for the label "80% Threshold"
    percent             DOUBLE PRECISION NOT NULL,
    delivered_at        BIGINT,              -- NULL until the webhook accepted it
    attempts            BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT,
    next_attempt_at     BIGINT NOT NULL DEFAULT 0,  -- also a claim: a sender pushes it forward
    UNIQUE (tenant_id, period_start, alert_type)
);
CREATE INDEX budget_alerts_by_tenant ON budget_alerts (tenant_id, id);
CREATE INDEX budget_alerts_to_deliver ON budget_alerts (next_attempt_at) WHERE delivered_at IS NULL;
