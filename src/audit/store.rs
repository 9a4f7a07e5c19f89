//! Audit rows. `record` takes the caller's transaction: the entry commits with the change.

use super::{AuditAction, AuditEntry, AuditPage, AUDIT_PAGE_SIZE};
use crate::tenants::TenantId;
use serde_json::Value;
use sqlx::{AnyConnection, AnyExecutor, AssertSqlSafe, FromRow};

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

/// Which entries `list` returns; `None` is "any".
#[derive(Debug, Clone, Default)]
pub struct Filter<'a> {
    pub tenant: Option<&'a TenantId>,
    pub action: Option<AuditAction>,
    pub actor: Option<&'a str>,
    /// Older than this entry (the previous page's `next_before`).
    pub before: Option<i64>,
}

/// One page of entries, newest first by when the change happened (`at`, then id: entries
/// written by the CLI or backdated demo data are not in insertion order), matching `filter`.
/// Paged by a cursor (the last entry's id; its `at` is read back), so a page stays put while
/// new entries arrive. The SQL holds only the conditions in use.
pub async fn list<'c, 'f>(exec: impl AnyExecutor<'c>, filter: Filter<'f>) -> Result<AuditPage, sqlx::Error> {
    let limit = i64::from(AUDIT_PAGE_SIZE);
    let mut conditions = vec!["TRUE".to_owned()];
    let mut texts: Vec<&'f str> = Vec::new();
    let mut text_condition = |column: &str, value: Option<&'f str>| {
        if let Some(value) = value {
            conditions.push(format!("{column} = ${}", texts.len() + 2));
            texts.push(value);
        }
    };
    text_condition("tenant_id", filter.tenant.map(TenantId::as_str));
    text_condition("action", filter.action.map(AuditAction::as_str));
    text_condition("actor", filter.actor);
    if filter.before.is_some() {
        let n = texts.len() + 2;
        conditions.push(format!(
            "(at < (SELECT c.at FROM audit_log c WHERE c.id = ${n})
              OR (at = (SELECT c.at FROM audit_log c WHERE c.id = ${n}) AND id < ${n}))"
        ));
    }
    let sql = format!(
        "SELECT id, at, actor, tenant_id, action, old_value, new_value FROM audit_log
         WHERE {} ORDER BY at DESC, id DESC LIMIT $1",
        conditions.join(" AND ")
    );
    let mut query = sqlx::query_as::<_, Row>(AssertSqlSafe(sql)).bind(limit + 1);
    for text in texts {
        query = query.bind(text);
    }
    if let Some(before) = filter.before {
        query = query.bind(before);
    }
    let rows = query.fetch_all(exec).await?;
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
