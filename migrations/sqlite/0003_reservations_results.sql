-- Reservations and replayable results (SQLite dialect; the PostgreSQL twin has the same name).

-- Tokens reserved by admitted checks that have not been settled by a report yet. In
-- single-instance (SQLite) mode reservations live in memory and this stays 0; in shared
-- (PostgreSQL) mode admission updates it atomically.
ALTER TABLE usage_counters ADD COLUMN reserved_tokens BIGINT NOT NULL DEFAULT 0;

-- Open reservations in shared mode; a report carrying the id settles (deletes) its row, an
-- expired row is released by a sweeper.
CREATE TABLE reservations (
    id           TEXT PRIMARY KEY,             -- rsv_<16 hex>
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    period_start BIGINT NOT NULL,
    tokens       BIGINT NOT NULL CHECK (tokens > 0),
    expires_at   BIGINT NOT NULL
);
CREATE INDEX reservations_by_expiry ON reservations (expires_at);

-- The answer a report got, as JSON, committed with the event: a replayed event_id gets the
-- same answer, even after a crash between commit and acknowledgement.
ALTER TABLE usage_events ADD COLUMN result TEXT;
