//! Alert rows: inserted in the report's transaction (a unique key per tenant, period and kind
//! makes each fire once, also across instances), listed for the budget page, and claimed and
//! marked by the notifier.

use super::{AlertPage, AlertPayload, AlertRecord, ALERTS_PER_PAGE};
use crate::budgets::rules::AlertKind;
use crate::db::Backend;
use crate::limits::period::rfc3339;
use crate::tenants::TenantId;
use crate::usage::batch::ReachedAlert;
use crate::usage::report::micros_to_usd;
use sqlx::{AnyConnection, AnyExecutor, AssertSqlSafe, FromRow};

/// Inserts the reached alerts that this tenant's period does not have yet, in one statement;
/// returns how many were new. Called inside the batch's transaction.
pub async fn insert_reached(conn: &mut AnyConnection, reached: &[ReachedAlert<'_>]) -> Result<u64, sqlx::Error> {
    if reached.is_empty() {
        return Ok(0);
    }
    let backend = Backend::of_connection(conn);
    let mut inserted = 0;
    for chunk in reached.chunks(500) {
        let sql = format!(
            "INSERT INTO budget_alerts (tenant_id, period_start, alert_type, created_at, spend_micros,
               max_budget_micros, alert_threshold_pct, percent) VALUES {}
             ON CONFLICT (tenant_id, period_start, alert_type) DO NOTHING",
            backend.values_list(chunk.len(), 8)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for a in chunk {
            query = query
                .bind(a.key.tenant_id)
                .bind(a.key.period_start)
                .bind(a.kind.as_str())
                .bind(a.at)
                .bind(a.spend_micros)
                .bind(a.budget.max_budget_micros)
                .bind(i64::from(a.budget.alert_threshold_pct))
                .bind(a.budget.percent_used(a.spend_micros));
        }
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

#[derive(FromRow)]
struct Row {
    id: i64,
    tenant_id: String,
    period_start: i64,
    alert_type: String,
    created_at: i64,
    spend_micros: i64,
    max_budget_micros: i64,
    alert_threshold_pct: i64,
    percent: f64,
    delivered_at: Option<i64>,
    attempts: i64,
    last_error: Option<String>,
}

const COLUMNS: &str = "id, tenant_id, period_start, alert_type, created_at, spend_micros, max_budget_micros,
    alert_threshold_pct, percent, delivered_at, attempts, last_error";

impl Row {
    fn kind(&self) -> Option<AlertKind> {
        AlertKind::parse(&self.alert_type)
    }

    fn label(&self, kind: AlertKind) -> String {
        kind.label(u32::try_from(self.alert_threshold_pct).unwrap_or_default())
    }

    fn record(self) -> Option<AlertRecord> {
        let kind = self.kind()?;
        Some(AlertRecord {
            id: self.id,
            created_at: self.created_at,
            label: self.label(kind),
            kind,
            spend_micros: self.spend_micros,
            max_budget_micros: self.max_budget_micros,
            percent: self.percent,
            delivered_at: self.delivered_at,
            attempts: self.attempts,
            last_error: self.last_error,
        })
    }

    fn payload(&self) -> Option<AlertPayload> {
        let kind = self.kind()?;
        Some(AlertPayload {
            id: self.id,
            tenant_id: self.tenant_id.clone(),
            kind,
            label: self.label(kind),
            spend_usd: micros_to_usd(self.spend_micros),
            max_budget_usd: micros_to_usd(self.max_budget_micros),
            percent: self.percent,
            period_start: rfc3339(self.period_start),
            created_at: rfc3339(self.created_at),
        })
    }
}

/// One page (1-based) of a tenant's alerts, newest first, across periods.
pub async fn list(pool: &sqlx::AnyPool, tenant: &TenantId, page: u32) -> Result<AlertPage, sqlx::Error> {
    let page = page.max(1);
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM budget_alerts WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(tenant.as_str())
    .bind(i64::from(ALERTS_PER_PAGE))
    .bind(i64::from(page - 1) * i64::from(ALERTS_PER_PAGE))
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM budget_alerts WHERE tenant_id = $1")
        .bind(tenant.as_str())
        .fetch_one(pool)
        .await?;
    Ok(AlertPage { alerts: rows.into_iter().filter_map(Row::record).collect(), page, total: total.max(0) as u64 })
}

/// Claims up to `limit` alerts due for delivery at `now` by pushing their next attempt to
/// `claim_until`: another notifier (another instance) then skips them. The conditions sit in
/// the UPDATE itself, so a row claimed concurrently is re-checked and left alone.
pub async fn claim_due<'c>(
    exec: impl AnyExecutor<'c>,
    now: i64,
    claim_until: i64,
    limit: i64,
) -> Result<Vec<AlertPayload>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
        "UPDATE budget_alerts SET next_attempt_at = $2
         WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND id IN (
           SELECT id FROM budget_alerts WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $3)
         RETURNING {COLUMNS}"
    )))
    .bind(now)
    .bind(claim_until)
    .bind(limit)
    .fetch_all(exec)
    .await?;
    Ok(rows.iter().filter_map(Row::payload).collect())
}

/// The webhook accepted the alert after `tries` POSTs.
pub async fn mark_delivered<'c>(exec: impl AnyExecutor<'c>, id: i64, tries: u32, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE budget_alerts SET delivered_at = $2, last_error = NULL, attempts = attempts + $3 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(i64::from(tries))
    .execute(exec)
    .await?;
    Ok(())
}

/// All `tries` POSTs of this round failed: keep the reason (shown on the budget page) and try
/// again at `retry_at`.
pub async fn mark_failed<'c>(
    exec: impl AnyExecutor<'c>,
    id: i64,
    tries: u32,
    error: &str,
    retry_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE budget_alerts SET last_error = $2, next_attempt_at = $3, attempts = attempts + $4 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .bind(i64::from(tries))
    .execute(exec)
    .await?;
    Ok(())
}
