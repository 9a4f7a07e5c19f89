//! Users, sign-in attempts and trusted devices.

use super::model::{Account, CurrentUser, Role};
use crate::audit::store::Change;
use crate::audit::AuditAction;
use sqlx::{AnyConnection, AnyExecutor, FromRow};

/// A `users` row as selected by `SELECT id, username, role, tenant_id` (other stores that join
/// users, like API tokens, flatten it into their rows).
#[derive(Debug, Clone, FromRow)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    role: String,
    tenant_id: Option<String>,
}

impl UserRow {
    pub(crate) fn into_user(self) -> Option<CurrentUser> {
        let role = match (self.role.as_str(), self.tenant_id) {
            ("system_admin", None) => Role::SystemAdmin,
            ("tenant_admin", Some(tenant_id)) => Role::TenantAdmin { tenant_id },
            _ => return None,
        };
        Some(CurrentUser { user_id: self.id, username: self.username, role })
    }
}

pub async fn by_id<'c>(exec: impl AnyExecutor<'c>, id: i64) -> Result<Option<CurrentUser>, sqlx::Error> {
    let row = sqlx::query_as::<_, UserRow>("SELECT id, username, role, tenant_id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(exec)
        .await?;
    Ok(row.and_then(UserRow::into_user))
}

/// The user a session belongs to, if that session still counts: the user exists, is not
/// disabled, and has not been signed out everywhere since (`epoch` is the session's).
pub async fn session_user<'c>(
    exec: impl AnyExecutor<'c>,
    id: i64,
    epoch: i64,
) -> Result<Option<CurrentUser>, sqlx::Error> {
    let row = sqlx::query_as::<_, UserRow>(
        "SELECT id, username, role, tenant_id FROM users WHERE id = $1 AND disabled_at IS NULL AND session_epoch = $2",
    )
    .bind(id)
    .bind(epoch)
    .fetch_optional(exec)
    .await?;
    Ok(row.and_then(UserRow::into_user))
}

/// What signing in needs of a user: who they are, their password hash and the session epoch
/// a new session carries. Disabled users have none.
pub struct Credentials {
    pub user: CurrentUser,
    pub password_hash: String,
    pub session_epoch: i64,
}

/// The credentials of an enabled user, for signing in.
pub async fn credentials<'c>(exec: impl AnyExecutor<'c>, username: &str) -> Result<Option<Credentials>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
        session_epoch: i64,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT id, username, role, tenant_id, password_hash, session_epoch FROM users
         WHERE username = $1 AND disabled_at IS NULL",
    )
    .bind(username)
    .fetch_optional(exec)
    .await?;
    Ok(row.and_then(|r| {
        Some(Credentials { user: r.user.into_user()?, password_hash: r.password_hash, session_epoch: r.session_epoch })
    }))
}

/// Inserts a user in the caller's transaction and records who created it; `None` when the
/// user name is taken.
pub async fn create(
    conn: &mut AnyConnection,
    username: &str,
    password_hash: &str,
    role: &Role,
    actor: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let tenant_id = match role {
        Role::SystemAdmin => None,
        Role::TenantAdmin { tenant_id } => Some(tenant_id.as_str()),
    };
    let created = sqlx::query_as::<_, (i64,)>(
        "INSERT INTO users (username, password_hash, role, tenant_id, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(role.as_str())
    .bind(tenant_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?
    .map(|(id,)| id);
    if created.is_some() {
        let change = Change {
            actor,
            tenant_id,
            action: AuditAction::UserCreated,
            old_value: None,
            new_value: Some(serde_json::json!({"username": username, "role": role.as_str()})),
            at: now,
        };
        crate::audit::store::record(conn, change).await?;
    }
    Ok(created)
}

/// A `users` row as an account, selected by `ACCOUNT_COLUMNS`.
#[derive(FromRow)]
struct AccountRow {
    #[sqlx(flatten)]
    user: UserRow,
    disabled_at: Option<i64>,
}

const ACCOUNT_COLUMNS: &str = "id, username, role, tenant_id, disabled_at";

impl AccountRow {
    fn into_account(self) -> Option<Account> {
        Some(Account { user: self.user.into_user()?, disabled_at: self.disabled_at })
    }
}

pub async fn list<'c>(exec: impl AnyExecutor<'c>) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users ORDER BY username");
    let rows = sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql)).fetch_all(exec).await?;
    Ok(rows.into_iter().filter_map(AccountRow::into_account).collect())
}

/// What a system admin does to an account after a compromise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange<'a> {
    /// No sign-in, session or API token of the user works until enabled again.
    Disable,
    Enable,
    /// A new password hash; every session ends and no browser stays trusted.
    SetPassword(&'a str),
    /// Every session ends, every API token is revoked, no browser stays trusted.
    SignOutEverywhere,
}

/// Applies `change` to `username` in the caller's transaction and records it; `None` when
/// there is no such user, else the account as it was.
pub async fn change_account(
    conn: &mut AnyConnection,
    username: &str,
    change: AccountChange<'_>,
    actor: &str,
    now: i64,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM users WHERE username = $1");
    let row =
        sqlx::query_as::<_, AccountRow>(sqlx::AssertSqlSafe(sql)).bind(username).fetch_optional(&mut *conn).await?;
    let Some(before) = row.and_then(AccountRow::into_account) else { return Ok(None) };
    let id = before.user.user_id;
    let (update, action) = match change {
        AccountChange::Disable => (
            sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL").bind(id).bind(now),
            AuditAction::UserDisabled,
        ),
        AccountChange::Enable => {
            (sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1").bind(id), AuditAction::UserEnabled)
        }
        AccountChange::SetPassword(hash) => (
            sqlx::query("UPDATE users SET password_hash = $2, session_epoch = session_epoch + 1 WHERE id = $1")
                .bind(id)
                .bind(hash),
            AuditAction::PasswordSet,
        ),
        AccountChange::SignOutEverywhere => (
            sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = $1").bind(id),
            AuditAction::UserSignedOutEverywhere,
        ),
    };
    update.execute(&mut *conn).await?;
    if matches!(change, AccountChange::SignOutEverywhere) {
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    if matches!(change, AccountChange::SignOutEverywhere | AccountChange::SetPassword(_)) {
        sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1").bind(id).execute(&mut *conn).await?;
    }
    let tenant_id = before.user.tenant_scope().map(str::to_owned);
    let audit = Change {
        actor,
        tenant_id: tenant_id.as_deref(),
        action,
        old_value: None,
        new_value: Some(serde_json::json!({"username": username})),
        at: now,
    };
    crate::audit::store::record(conn, audit).await?;
    Ok(Some(before))
}

pub async fn count<'c>(exec: impl AnyExecutor<'c>) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(exec).await?;
    Ok(n)
}

/// The failures of each throttling key since `since`, read while the keys are locked: an
/// attempt counts itself and records itself in one transaction, so attempts sharing a key
/// (one account, one address) are decided one after the other and never both see room for one.
pub struct AttemptCounts {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Per key, in the order given: failures in the window, this attempt included.
    pub counts: Vec<i64>,
    /// The latest failure of the first key.
    pub last_failure_at: Option<i64>,
}

/// Locks `keys` (in sorted order, so attempts sharing keys cannot deadlock), forgets their
/// failures older than `since` and counts the rest.
pub async fn count_attempt(
    db: &crate::db::Db,
    keys: &[&str],
    now: i64,
    since: i64,
) -> Result<AttemptCounts, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    for key in sorted {
        sqlx::query(
            "INSERT INTO sign_in_keys (key, last_attempt_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET last_attempt_at = excluded.last_attempt_at",
        )
        .bind(key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1 AND failed_at < $2")
            .bind(key)
            .bind(since)
            .execute(&mut *tx)
            .await?;
    }
    let mut counts = Vec::with_capacity(keys.len());
    for key in keys {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sign_in_failures WHERE key = $1")
            .bind(*key)
            .fetch_one(&mut *tx)
            .await?;
        counts.push(n + 1);
    }
    let (last_failure_at,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(failed_at) FROM sign_in_failures WHERE key = $1")
            .bind(keys.first().copied().unwrap_or_default())
            .fetch_one(&mut *tx)
            .await?;
    Ok(AttemptCounts { tx, counts, last_failure_at })
}

impl AttemptCounts {
    /// Records the attempt under each key as a failure until it is forgiven, and commits.
    pub async fn record(mut self, attempt: &str, keys: &[&str], now: i64) -> Result<(), sqlx::Error> {
        for key in keys {
            sqlx::query("INSERT INTO sign_in_failures (key, failed_at, attempt) VALUES ($1, $2, $3)")
                .bind(*key)
                .bind(now)
                .bind(attempt)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await
    }
}

/// Removes an attempt's rows: it succeeded, or its password could not be checked.
pub async fn forgive_attempt<'c>(exec: impl AnyExecutor<'c>, attempt: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE attempt = $1").bind(attempt).execute(exec).await.map(|_| ())
}

pub async fn clear_failures<'c>(exec: impl AnyExecutor<'c>, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1").bind(key).execute(exec).await.map(|_| ())
}

/// The user a trusted device (the SHA-256 of its cookie) belongs to.
pub async fn device_user<'c>(exec: impl AnyExecutor<'c>, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM trusted_devices WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(exec)
        .await?;
    Ok(row.map(|(id,)| id))
}

/// Remembers (or refreshes) a browser the user signed in from.
pub async fn trust_device<'c>(
    exec: impl AnyExecutor<'c>,
    token_hash: &str,
    user_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO trusted_devices (token_hash, user_id, created_at, last_used_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (token_hash) DO UPDATE SET last_used_at = excluded.last_used_at",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .execute(exec)
    .await
    .map(|_| ())
}
