-- Personal API tokens for the automation API (/api/client/usage/*) (PostgreSQL dialect; the SQLite
-- twin has the same name). Never edited once applied.

-- A token acts as the console user who created it, with that user's role as it is at each
-- request. Only the SHA-256 of the token is kept: it is shown once, when created.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,                -- what the user called it ("CI pipeline")
    token_hash   TEXT NOT NULL UNIQUE,         -- hex SHA-256 of the whole token
    token_prefix TEXT NOT NULL,                -- the first characters, to tell tokens apart
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,                       -- updated at most once a minute
    revoked_at   BIGINT                        -- NULL while the token works
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id, id);
