-- Tollgate schema, SQLite dialect (the PostgreSQL twin is migrations/postgres/ with the same
-- name). An applied migration is never edited: change the schema with a new file in both.
-- Every instant is a BIGINT of Unix milliseconds, UTC.

-- A customer of the LLM platform; limits and counters belong to it.
CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,            -- ^[a-z0-9][a-z0-9_-]{0,62}$, checked in Rust
    display_name  TEXT NOT NULL,
    token_limit   BIGINT CHECK (token_limit IS NULL OR token_limit > 0),  -- NULL: No Limit
    period_anchor BIGINT NOT NULL,             -- budget periods repeat every period_days from here
    period_days   BIGINT NOT NULL DEFAULT 30 CHECK (period_days > 0),
    created_at    BIGINT NOT NULL
);

-- A machine client; it authenticates with an API key of which only the hash is kept.
CREATE TABLE agents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    name           TEXT NOT NULL,
    api_key_hash   TEXT NOT NULL UNIQUE,       -- SHA-256 hex of the key
    api_key_prefix TEXT NOT NULL,              -- the key's first characters, to tell keys apart
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX agents_by_tenant ON agents (tenant_id);

-- One reported call. The primary key is the idempotency rule: an event id counts once per tenant.
CREATE TABLE usage_events (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    event_id      TEXT NOT NULL,
    agent_id      BIGINT NOT NULL REFERENCES agents(id),
    user_id       TEXT,
    model         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL CHECK (input_tokens >= 0),
    output_tokens BIGINT NOT NULL CHECK (output_tokens >= 0),
    cost_micros   BIGINT NOT NULL CHECK (cost_micros >= 0),  -- 1e-6 USD
    occurred_at   BIGINT NOT NULL,
    period_start  BIGINT NOT NULL,             -- the budget period the event counts toward
    PRIMARY KEY (tenant_id, event_id)
) WITHOUT ROWID;

-- Running totals per tenant and period, incremented in the same transaction as the event insert.
CREATE TABLE usage_counters (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    period_start  BIGINT NOT NULL,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_micros   BIGINT NOT NULL DEFAULT 0,
    event_count   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, period_start)
) WITHOUT ROWID;
