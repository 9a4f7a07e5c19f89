-- Answering a compromised account, and sign-in throttling that cannot be raced or used to lock
-- others out (SQLite dialect; the twin in the other folder has the same name). Never edited
-- once applied.

-- NULL: the user may sign in; else since when they may not (sessions and API tokens stop too).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- Raised to end every session at once ("sign out everywhere", a new password): a session
-- counts only while it carries the epoch it was signed in under.
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- Each sign-in attempt is recorded before its password is checked (so concurrent attempts
-- count against each other), under the attempt's own id; a success removes it.
ALTER TABLE sign_in_failures ADD COLUMN attempt TEXT;
-- One row per throttling key, locked (by an upsert) while an attempt counts and records
-- itself, so attempts on one account or from one address are decided one after the other.
CREATE TABLE sign_in_keys (
    key             TEXT PRIMARY KEY,
    last_attempt_at BIGINT NOT NULL
);

-- Browsers a user has signed in from (the tollgate_device cookie; only its SHA-256 is kept).
-- Sign-ins from them skip the per-account slow-down that attacks elsewhere trigger.
CREATE TABLE trusted_devices (
    token_hash   TEXT PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX trusted_devices_by_user ON trusted_devices (user_id);

-- Delivery errors stored before they were reduced to their kind could hold the webhook's URL,
-- whose path is a secret for Slack and Teams.
UPDATE budget_alerts SET last_error = 'the webhook request failed' WHERE last_error LIKE '%://%';
