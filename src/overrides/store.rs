//! `user_limits` rows: set, remove, list, and what the local engine loads with a tenant.
//! Every change records its audit entry in the caller's transaction.

use super::UserOverride;
use crate::audit::store::{self as audit, Change};
use crate::audit::AuditAction;
use crate::limits::{TokenLimit, UserUsage};
use crate::tenants::TenantId;
use serde_json::json;
use sqlx::{AnyConnection, AnyExecutor, AssertSqlSafe, FromRow};
use std::collections::HashMap;

#[derive(FromRow)]
struct Row {
    tenant_id: String,
    user_id: String,
    token_limit: i64,
    used_tokens: i64,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn limit(&self) -> Option<TokenLimit> {
        TokenLimit::new(u64::try_from(self.token_limit).ok()?).ok()
    }

    fn into_override(self) -> Option<UserOverride> {
        Some(UserOverride {
            token_limit: self.limit()?,
            used_tokens: self.used_tokens.max(0) as u64,
            tenant_id: self.tenant_id,
            user_id: self.user_id,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// An override with its user's tokens in the period starting at `$2`.
const SELECT_WITH_USAGE: &str = "SELECT l.tenant_id, l.user_id, l.token_limit, l.created_at, l.updated_at,
        COALESCE(c.input_tokens + c.output_tokens, 0) AS used_tokens
 FROM user_limits l
 LEFT JOIN user_usage_counters c
   ON c.tenant_id = l.tenant_id AND c.user_id = l.user_id AND c.period_start = $2
 WHERE l.tenant_id = $1";

/// The overrides of a tenant with each user's tokens in the period starting at `period_start`,
/// ordered by user id.
pub async fn list<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
    period_start: i64,
) -> Result<Vec<UserOverride>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!("{SELECT_WITH_USAGE} ORDER BY l.user_id")))
        .bind(tenant_id.as_str())
        .bind(period_start)
        .fetch_all(exec)
        .await?;
    Ok(rows.into_iter().filter_map(Row::into_override).collect())
}

/// One user's override with their tokens in the period starting at `period_start`.
pub async fn get<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
    user_id: &str,
    period_start: i64,
) -> Result<Option<UserOverride>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(AssertSqlSafe(format!("{SELECT_WITH_USAGE} AND l.user_id = $3")))
        .bind(tenant_id.as_str())
        .bind(period_start)
        .bind(user_id)
        .fetch_optional(exec)
        .await?;
    Ok(row.and_then(Row::into_override))
}

/// What the local engine holds for a tenant: each overridden user's limit and tokens used in
/// the period (nothing reserved yet).
pub async fn meters<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
    period_start: i64,
) -> Result<HashMap<String, UserUsage>, sqlx::Error> {
    Ok(list(exec, tenant_id, period_start)
        .await?
        .into_iter()
        .map(|o| (o.user_id, UserUsage { limit: o.token_limit, used_tokens: o.used_tokens, reserved_tokens: 0 }))
        .collect())
}

/// Every override's limit, by tenant: the local engine re-reads them every few seconds so a
/// change made by another process (the CLI) applies.
pub async fn all_limits<'c>(
    exec: impl AnyExecutor<'c>,
) -> Result<HashMap<String, HashMap<String, TokenLimit>>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT tenant_id, user_id, token_limit FROM user_limits").fetch_all(exec).await?;
    let mut all: HashMap<String, HashMap<String, TokenLimit>> = HashMap::new();
    for (tenant_id, user_id, limit) in rows {
        if let Some(limit) = u64::try_from(limit).ok().and_then(|l| TokenLimit::new(l).ok()) {
            all.entry(tenant_id).or_default().insert(user_id, limit);
        }
    }
    Ok(all)
}

/// The user's override now, if any.
pub async fn limit_of(
    conn: &mut AnyConnection,
    tenant_id: &TenantId,
    user_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT token_limit FROM user_limits WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id.as_str())
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Whether `set` may change an override the user already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetKind {
    /// Only a user without an override gets one (`POST`); decided by the insert itself, so two
    /// racing creations cannot both succeed.
    CreateOnly,
    CreateOrChange,
}

/// What setting an override did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    NoSuchTenant,
    /// A new override, and the tenant already has `MAX_OVERRIDES_PER_TENANT`: nothing changed.
    TooMany,
    /// `CreateOnly` and the user already had this limit; nothing changed.
    Exists {
        limit: i64,
    },
    /// Set; the limit before (`None`: the user had no override). Setting the same limit again
    /// changes nothing and records nothing.
    Set {
        before: Option<i64>,
    },
}

/// Sets a user's override in the caller's transaction and records the change.
pub async fn set(
    conn: &mut AnyConnection,
    tenant_id: &TenantId,
    user_id: &str,
    limit: TokenLimit,
    kind: SetKind,
    actor: &str,
    now: i64,
) -> Result<SetOutcome, sqlx::Error> {
    // A no-op update of the tenant's row: it exists, and on PostgreSQL its row lock makes
    // racing creations of overrides count one after the other (SQLite's writes already do).
    let locked = sqlx::query("UPDATE tenants SET display_name = display_name WHERE id = $1")
        .bind(tenant_id.as_str())
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() == 0 {
        return Ok(SetOutcome::NoSuchTenant);
    }
    let before = limit_of(conn, tenant_id, user_id).await?;
    match (kind, before) {
        (SetKind::CreateOnly, Some(limit)) => return Ok(SetOutcome::Exists { limit }),
        (SetKind::CreateOrChange, Some(b)) if b == limit.get() as i64 => return Ok(SetOutcome::Set { before }),
        (_, None) => {
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM user_limits WHERE tenant_id = $1")
                .bind(tenant_id.as_str())
                .fetch_one(&mut *conn)
                .await?;
            if count >= super::MAX_OVERRIDES_PER_TENANT as i64 {
                return Ok(SetOutcome::TooMany);
            }
        }
        _ => {}
    }
    let on_conflict = match kind {
        // The read above may have raced another creation (PostgreSQL reads committed rows);
        // the insert decides.
        SetKind::CreateOnly => "DO NOTHING",
        SetKind::CreateOrChange => "DO UPDATE SET token_limit = excluded.token_limit, updated_at = excluded.updated_at",
    };
    let written = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO user_limits (tenant_id, user_id, token_limit, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (tenant_id, user_id) {on_conflict}"
    )))
    .bind(tenant_id.as_str())
    .bind(user_id)
    .bind(limit.get() as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if written.rows_affected() == 0 {
        let limit = limit_of(conn, tenant_id, user_id).await?.unwrap_or(limit.get() as i64);
        return Ok(SetOutcome::Exists { limit });
    }
    let change = Change {
        actor,
        tenant_id: Some(tenant_id.as_str()),
        action: AuditAction::UserOverrideSet,
        old_value: before.map(|l| json!({"user_id": user_id, "token_limit": l})),
        new_value: Some(json!({"user_id": user_id, "token_limit": limit.get()})),
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(SetOutcome::Set { before })
}

/// Removes a user's override in the caller's transaction and records it; `false` when the
/// user had none (nothing changes, nothing is recorded).
pub async fn remove(
    conn: &mut AnyConnection,
    tenant_id: &TenantId,
    user_id: &str,
    actor: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(before) = limit_of(conn, tenant_id, user_id).await? else { return Ok(false) };
    sqlx::query("DELETE FROM user_limits WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id.as_str())
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let change = Change {
        actor,
        tenant_id: Some(tenant_id.as_str()),
        action: AuditAction::UserOverrideRemoved,
        old_value: Some(json!({"user_id": user_id, "token_limit": before})),
        new_value: None,
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(true)
}
