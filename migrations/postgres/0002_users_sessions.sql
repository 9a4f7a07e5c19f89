-- Console users, their server-side sessions and failed sign-ins (PostgreSQL dialect; the
-- SQLite twin has the same name). Never edited once applied.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,        -- lowercase, checked in Rust
    password_hash TEXT NOT NULL,               -- argon2id PHC string; the password is never stored
    role          TEXT NOT NULL CHECK (role IN ('system_admin', 'tenant_admin')),
    tenant_id     TEXT REFERENCES tenants(id), -- the one tenant of a tenant admin
    created_at    BIGINT NOT NULL,
    CHECK ((role = 'system_admin' AND tenant_id IS NULL) OR (role = 'tenant_admin' AND tenant_id IS NOT NULL))
);

-- tower-sessions records: the cookie holds only the random id.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,                 -- JSON
    expiry_date BIGINT NOT NULL                -- Unix milliseconds
);
CREATE INDEX sessions_by_expiry ON sessions (expiry_date);

-- Failed sign-ins, counted per account ('user:<name>') and per address ('addr:<ip>') to
-- slow down password guessing. Rows older than the window are deleted as new ones arrive.
CREATE TABLE sign_in_failures (
    key       TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_key ON sign_in_failures (key, failed_at);

