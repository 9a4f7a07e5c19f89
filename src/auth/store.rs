//! Users and failed sign-ins.

use super::model::{CurrentUser, Role};
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

/// The user and their password hash, for signing in.
pub async fn credentials<'c>(
    exec: impl AnyExecutor<'c>,
    username: &str,
) -> Result<Option<(CurrentUser, String)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    let row =
        sqlx::query_as::<_, Row>("SELECT id, username, role, tenant_id, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(exec)
            .await?;
    Ok(row.and_then(|r| Some((r.user.into_user()?, r.password_hash))))
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

pub async fn list<'c>(exec: impl AnyExecutor<'c>) -> Result<Vec<CurrentUser>, sqlx::Error> {
    let rows = sqlx::query_as::<_, UserRow>("SELECT id, username, role, tenant_id FROM users ORDER BY username")
        .fetch_all(exec)
        .await?;
    Ok(rows.into_iter().filter_map(UserRow::into_user).collect())
}

pub async fn count<'c>(exec: impl AnyExecutor<'c>) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(exec).await?;
    Ok(n)
}

/// How many failures `key` has had since `since`.
pub async fn failures_since<'c>(exec: impl AnyExecutor<'c>, key: &str, since: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sign_in_failures WHERE key = $1 AND failed_at >= $2")
        .bind(key)
        .bind(since)
        .fetch_one(exec)
        .await?;
    Ok(n)
}

/// Records a failure for each key and forgets the ones older than `forget_before`.
pub async fn record_failure(
    pool: &sqlx::AnyPool,
    keys: &[String],
    now: i64,
    forget_before: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for key in keys {
        sqlx::query("DELETE FROM sign_in_failures WHERE key = $1 AND failed_at < $2")
            .bind(key)
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sign_in_failures (key, failed_at) VALUES ($1, $2)")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

pub async fn clear_failures<'c>(exec: impl AnyExecutor<'c>, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1").bind(key).execute(exec).await.map(|_| ())
}
