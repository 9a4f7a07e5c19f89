//! Audit rows. `record` takes the caller's transaction: the entry commits with the change.

use super::{AuditAction, AuditEntry, AuditPage, AUDIT_PAGE_SIZE};
use crate::tenants::TenantId;
use serde_json::Value;
use sqlx::{AnyConnection, AnyExecutor, FromRow};

/// A change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The console user's name, or `cli` / `bootstrap` / `demo`.
    pub actor: &'a str,
    pub tenant_id: Option<&'a str>,
    pub action: AuditAction,
    /// `None`: there was nothing before (a creation).
    pub old_value: Option<Value>,
    /// `None`: the thing was removed.
    pub new_value: Option<Value>,
    pub at: i64,
}

/// Writes an entry in the caller's transaction.
pub async fn record(conn: &mut AnyConnection, change: Change<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, tenant_id, action, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(change.at)
    .bind(change.actor)
    .bind(change.tenant_id)
    .bind(change.action.as_str())
    .bind(change.old_value.map(|v| v.to_string()))
    .bind(change.new_value.map(|v| v.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct Row {
    id: i64,
    at: i64,
    actor: String,
    tenant_id: Option<String>,
    action: String,
    old_value: Option<String>,
    new_value: Option<String>,
}

/// One page of entries, newest first, older than `before` when given; only `tenant`'s when
/// given. Paged by id (a cursor), so a page stays put while new entries arrive.
pub async fn list<'c>(
    exec: impl AnyExecutor<'c>,
    tenant: Option<&TenantId>,
    before: Option<i64>,
) -> Result<AuditPage, sqlx::Error> {
    let limit = i64::from(AUDIT_PAGE_SIZE);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, actor, tenant_id, action, old_value, new_value FROM audit_log
         WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(tenant.map(TenantId::as_str))
    .bind(before)
    .bind(limit + 1)
    .fetch_all(exec)
    .await?;
    let more = rows.len() as i64 > limit;
    let entries: Vec<AuditEntry> = rows
        .into_iter()
        .take(AUDIT_PAGE_SIZE as usize)
        .filter_map(|r| {
            Some(AuditEntry {
                id: r.id,
                at: r.at,
                actor: r.actor,
                tenant_id: r.tenant_id,
                action: AuditAction::parse(&r.action)?,
                old_value: r.old_value,
                new_value: r.new_value,
            })
        })
        .collect();
    let next_before = if more { entries.last().map(|e| e.id) } else { None };
    Ok(AuditPage { entries, next_before })
}
