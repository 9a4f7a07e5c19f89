//! Usage events and per-period counters. Recording is one transaction: the event row (its
//! primary key is the idempotency rule) and an atomic counter increment in SQL, never a
//! read-modify-write in Rust.

use super::model::{SortKey, UsagePage, UsageQuery, UsageRow, PAGE_SIZE};
use super::report::UsageReport;
// Dynamic SQL here is built only from constants and the SortKey whitelist, never from input.
use sqlx::{AnyConnection, AnyExecutor, AssertSqlSafe, FromRow};

/// A tenant's running totals for one budget period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct Counters {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub event_count: i64,
}

impl Counters {
    pub fn total_tokens(&self) -> u64 {
        (self.input_tokens + self.output_tokens).max(0) as u64
    }
}

/// An event ready to be stored: the report plus what the server decided about it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub tenant_id: String,
    pub agent_id: i64,
    pub report: UsageReport,
    pub occurred_at: i64,
    pub period_start: i64,
}

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// `false` when the event id had been recorded before (nothing changed).
    pub recorded: bool,
    /// The tenant's counters for the event's period after this event.
    pub counters: Counters,
}

/// Inserts the event and increments its period's counters, inside the caller's transaction.
pub async fn record_event(conn: &mut AnyConnection, event: &NewEvent) -> Result<Recorded, sqlx::Error> {
    let r = &event.report;
    let inserted = sqlx::query(
        "INSERT INTO usage_events
           (tenant_id, event_id, agent_id, user_id, model, input_tokens, output_tokens, cost_micros, occurred_at, period_start)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id, event_id) DO NOTHING",
    )
    .bind(&event.tenant_id)
    .bind(&r.event_id)
    .bind(event.agent_id)
    .bind(r.user_id.as_deref())
    .bind(&r.model)
    .bind(r.input_tokens)
    .bind(r.output_tokens)
    .bind(r.cost_micros)
    .bind(event.occurred_at)
    .bind(event.period_start)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        let counters = period_counters(&mut *conn, &event.tenant_id, event.period_start).await?;
        return Ok(Recorded { recorded: false, counters });
    }
    let counters = sqlx::query_as::<_, Counters>(
        "INSERT INTO usage_counters (tenant_id, period_start, input_tokens, output_tokens, cost_micros, event_count)
         VALUES ($1, $2, $3, $4, $5, 1)
         ON CONFLICT (tenant_id, period_start) DO UPDATE SET
           input_tokens  = usage_counters.input_tokens  + excluded.input_tokens,
           output_tokens = usage_counters.output_tokens + excluded.output_tokens,
           cost_micros   = usage_counters.cost_micros   + excluded.cost_micros,
           event_count   = usage_counters.event_count   + 1
         RETURNING input_tokens, output_tokens, cost_micros, event_count",
    )
    .bind(&event.tenant_id)
    .bind(event.period_start)
    .bind(r.input_tokens)
    .bind(r.output_tokens)
    .bind(r.cost_micros)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Recorded { recorded: true, counters })
}

/// The tenant's counters for the period starting at `period_start` (zero if none yet).
pub async fn period_counters<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &str,
    period_start: i64,
) -> Result<Counters, sqlx::Error> {
    Ok(sqlx::query_as::<_, Counters>(
        "SELECT input_tokens, output_tokens, cost_micros, event_count
         FROM usage_counters WHERE tenant_id = $1 AND period_start = $2",
    )
    .bind(tenant_id)
    .bind(period_start)
    .fetch_optional(exec)
    .await?
    .unwrap_or_default())
}

/// The start of each tenant's current period at instant `$1`, in SQL. It mirrors
/// `limits::period::current_period` (a test checks they agree on both backends).
const CURRENT_PERIOD_START: &str = "t.period_anchor + \
     ((CASE WHEN $1 > t.period_anchor THEN $1 - t.period_anchor ELSE 0 END) / (t.period_days * 86400000)) \
     * (t.period_days * 86400000)";

/// The filter condition: parameter `$text` is the lowered filter text ('' for all), `$pattern`
/// the same as an escaped LIKE pattern, `$scope` the one tenant the viewer may see (NULL: all).
fn filter(text: &str, pattern: &str, scope: &str) -> String {
    format!(
        "({scope} IS NULL OR t.id = {scope}) AND ({text} = '' OR LOWER(t.id) LIKE {pattern} ESCAPE '\\' OR LOWER(t.display_name) LIKE {pattern} ESCAPE '\\')"
    )
}

fn order_by(sort: SortKey, desc: bool) -> String {
    let column = match sort {
        SortKey::TenantId => "tenant_id",
        SortKey::InputTokens => "input_tokens",
        SortKey::OutputTokens => "output_tokens",
        SortKey::TotalTokens => "total_tokens",
        SortKey::TotalCost => "cost_micros",
        // No Limit has no percentage; NULLS LAST keeps those rows at the end either way.
        SortKey::UsagePct => "CASE WHEN token_limit IS NULL THEN NULL ELSE total_tokens * 1.0 / token_limit END",
    };
    let dir = if desc { "DESC" } else { "ASC" };
    format!("{column} {dir} NULLS LAST, tenant_id ASC")
}

/// One page of the usage table: each tenant's counters for its current period at `now`,
/// only `scope`'s row when a scope is given.
pub async fn list_usage(
    pool: &sqlx::AnyPool,
    query: &UsageQuery,
    scope: Option<&str>,
    now: i64,
) -> Result<UsagePage, sqlx::Error> {
    let needle = query.q.to_lowercase();
    let pattern = format!("%{}%", escape_like(&needle));
    let sql = format!(
        "SELECT * FROM (
           SELECT t.id AS tenant_id, t.display_name, t.token_limit,
                  COALESCE(c.input_tokens, 0) AS input_tokens,
                  COALESCE(c.output_tokens, 0) AS output_tokens,
                  COALESCE(c.input_tokens, 0) + COALESCE(c.output_tokens, 0) AS total_tokens,
                  COALESCE(c.cost_micros, 0) AS cost_micros
           FROM tenants t
           LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period_start = {CURRENT_PERIOD_START}
           WHERE {}
         ) AS u
         ORDER BY {}
         LIMIT $4 OFFSET $5",
        filter("$2", "$3", "$6"),
        order_by(query.sort, query.desc)
    );
    let rows = sqlx::query_as::<_, UsageRowRecord>(AssertSqlSafe(sql))
        .bind(now)
        .bind(&needle)
        .bind(&pattern)
        .bind(i64::from(PAGE_SIZE))
        .bind(query.offset() as i64)
        .bind(scope)
        .fetch_all(pool)
        .await?;
    let (total_rows,): (i64,) =
        sqlx::query_as(AssertSqlSafe(format!("SELECT COUNT(*) FROM tenants t WHERE {}", filter("$1", "$2", "$3"))))
            .bind(&needle)
            .bind(&pattern)
            .bind(scope)
            .fetch_one(pool)
            .await?;
    Ok(UsagePage {
        rows: rows.into_iter().map(UsageRow::from).collect(),
        total_rows: total_rows.max(0) as u64,
        query: query.clone(),
    })
}

#[derive(FromRow)]
struct UsageRowRecord {
    tenant_id: String,
    display_name: String,
    token_limit: Option<i64>,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
    cost_micros: i64,
}

impl From<UsageRowRecord> for UsageRow {
    fn from(r: UsageRowRecord) -> Self {
        Self {
            tenant_id: r.tenant_id,
            display_name: r.display_name,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            total_tokens: r.total_tokens,
            cost_micros: r.cost_micros,
            token_limit: r.token_limit.and_then(|l| u64::try_from(l).ok()),
        }
    }
}

/// The current period start of one tenant as SQL computes it; used to test that SQL and Rust agree.
pub async fn sql_current_period_start<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (start,): (i64,) =
        sqlx::query_as(AssertSqlSafe(format!("SELECT {CURRENT_PERIOD_START} FROM tenants t WHERE t.id = $2")))
            .bind(now)
            .bind(tenant_id)
            .fetch_one(exec)
            .await?;
    Ok(start)
}

/// Escapes LIKE's wildcards so the filter text matches literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
