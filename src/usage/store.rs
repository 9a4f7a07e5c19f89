//! Usage events and per-period counters. A batch of reports is recorded in one transaction:
//! the event rows (their primary key is the idempotency rule) and the counter rows, which
//! are locked first so that no other writer can change them until commit.

use super::model::{SortKey, UsagePage, UsageQuery, UsageRow, PAGE_SIZE};
use super::report::{micros_to_usd, ReportResult, UsageReport};
use crate::limits::period::rfc3339;
use crate::server::db::Backend;
use std::collections::HashMap;
// Dynamic SQL here is built only from constants and the SortKey whitelist, never from input.
use sqlx::{AnyConnection, AnyExecutor, AssertSqlSafe, FromRow};

/// A tenant's running totals for one budget period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct Counters {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub event_count: i64,
    /// Tokens held by open reservations (shared mode; 0 in local mode, where they are in memory).
    #[sqlx(default)]
    pub reserved_tokens: i64,
}

impl Counters {
    pub fn total_tokens(&self) -> u64 {
        (self.input_tokens + self.output_tokens).max(0) as u64
    }

    fn minus(self, other: Counters) -> Counters {
        Counters {
            input_tokens: self.input_tokens - other.input_tokens,
            output_tokens: self.output_tokens - other.output_tokens,
            cost_micros: self.cost_micros - other.cost_micros,
            event_count: self.event_count - other.event_count,
            reserved_tokens: self.reserved_tokens - other.reserved_tokens,
        }
    }
}

/// A counter row with its key, as the batch statements return it.
#[derive(FromRow)]
struct CounterRow {
    tenant_id: String,
    period_start: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
    event_count: i64,
}

impl CounterRow {
    fn counters(&self) -> Counters {
        Counters {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_micros: self.cost_micros,
            event_count: self.event_count,
            reserved_tokens: 0,
        }
    }
}

/// An event ready to be stored: the report plus what the server decided about it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub tenant_id: String,
    pub agent_id: i64,
    pub report: UsageReport,
    pub occurred_at: i64,
    /// The budget period the event counts toward, and the tenant's limit at the time: both go
    /// into the stored result.
    pub period_start: i64,
    pub resets_at: i64,
    pub token_limit: Option<u64>,
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// `false` when the event id had been recorded before: nothing changed, and `result` is
    /// the answer the first report got.
    pub recorded: bool,
    pub result: ReportResult,
}

/// The committed counter of one tenant-period after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedTotal {
    pub period_start: i64,
    pub used_tokens: u64,
}

/// Records a batch of events in the caller's transaction, in order, with four statements
/// however many events and tenants it holds: lock the counter rows (in a fixed order, so
/// concurrent processes cannot deadlock), find which ids were seen before, insert the new
/// events with their answers, add the sums to the counters. Returns each event's outcome and
/// the counters' new totals per tenant.
pub async fn record_batch(
    conn: &mut AnyConnection,
    events: &[NewEvent],
) -> Result<(Vec<Recorded>, HashMap<String, CommittedTotal>), sqlx::Error> {
    let backend = Backend::of_connection(conn);
    // 1. Lock (and create) each counter row, in a fixed order; their totals are then stable
    //    until commit. One statement for all tenant-periods of the batch.
    let mut groups: Vec<(&str, i64)> = events.iter().map(|e| (e.tenant_id.as_str(), e.period_start)).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut before: HashMap<(&str, i64), Counters> = HashMap::new();
    for chunk in groups.chunks(1000) {
        let sql = format!(
            "INSERT INTO usage_counters (tenant_id, period_start) VALUES {}
             ON CONFLICT (tenant_id, period_start) DO UPDATE SET event_count = usage_counters.event_count
             RETURNING tenant_id, period_start, input_tokens, output_tokens, cost_micros, event_count",
            backend.values_list(chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, CounterRow>(AssertSqlSafe(sql));
        for &(tenant_id, period_start) in chunk {
            query = query.bind(tenant_id).bind(period_start);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key = (row.tenant_id.as_str(), row.period_start);
            if let Ok(i) = groups.binary_search_by(|g| (g.0, g.1).cmp(&key)) {
                before.insert(groups[i], row.counters());
            }
        }
    }
    let mut totals = before.clone();

    // 2. Which of these ids were recorded before, and what they were answered.
    let mut event_keys: Vec<(&str, &str)> =
        events.iter().map(|e| (e.tenant_id.as_str(), e.report.event_id.as_str())).collect();
    event_keys.sort_unstable();
    event_keys.dedup();
    let mut seen: HashMap<(&str, &str), Option<String>> = HashMap::new();
    for chunk in events.chunks(1000) {
        let sql = format!(
            "SELECT tenant_id, event_id, result FROM usage_events WHERE (tenant_id, event_id) IN (VALUES {})",
            backend.values_list(chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, (String, String, Option<String>)>(AssertSqlSafe(sql));
        for e in chunk {
            query = query.bind(e.tenant_id.as_str()).bind(e.report.event_id.as_str());
        }
        for (tenant_id, event_id, result) in query.fetch_all(&mut *conn).await? {
            let key = (tenant_id.as_str(), event_id.as_str());
            if let Ok(i) = event_keys.binary_search_by(|k| k.cmp(&key)) {
                seen.insert(event_keys[i], result);
            }
        }
    }

    // 3. Walk the events in order: replays get the stored answer, new ones count.
    let mut outcomes: Vec<Recorded> = Vec::with_capacity(events.len());
    let mut new_index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut fresh = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let key = (e.tenant_id.as_str(), e.report.event_id.as_str());
        if let Some(stored) = seen.get(&key) {
            outcomes.push(Recorded { recorded: false, result: replayed_result(e, stored.as_deref(), &totals) });
            continue;
        }
        if let Some(&first) = new_index.get(&key) {
            // The same id twice in one batch: the second is a replay of the first.
            let result = outcomes[first].result.clone();
            outcomes.push(Recorded { recorded: false, result });
            continue;
        }
        let counter = totals.entry((e.tenant_id.as_str(), e.period_start)).or_default();
        counter.input_tokens += e.report.input_tokens;
        counter.output_tokens += e.report.output_tokens;
        counter.cost_micros += e.report.cost_micros;
        counter.event_count += 1;
        let result = result_of(e, counter.total_tokens());
        new_index.insert(key, i);
        fresh.push(i);
        outcomes.push(Recorded { recorded: true, result });
    }

    // 4. Insert the new events with their answers.
    for chunk in fresh.chunks(1000) {
        let sql = format!(
            "INSERT INTO usage_events (tenant_id, event_id, agent_id, user_id, model, input_tokens, output_tokens,
             cost_micros, occurred_at, period_start, result) VALUES {} ON CONFLICT (tenant_id, event_id) DO NOTHING",
            backend.values_list(chunk.len(), 11)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &i in chunk {
            let (e, r) = (&events[i], &events[i].report);
            let result = serde_json::to_string(&outcomes[i].result).ok();
            query = query
                .bind(e.tenant_id.as_str())
                .bind(r.event_id.as_str())
                .bind(e.agent_id)
                .bind(r.user_id.as_deref())
                .bind(r.model.as_str())
                .bind(r.input_tokens)
                .bind(r.output_tokens)
                .bind(r.cost_micros)
                .bind(e.occurred_at)
                .bind(e.period_start)
                .bind(result);
        }
        let inserted = query.execute(&mut *conn).await?.rows_affected();
        if inserted != chunk.len() as u64 {
            // Another process recorded one of these ids between step 2 and now (only possible
            // across a period boundary); the caller retries the batch, which then sees it.
            return Err(sqlx::Error::Protocol("concurrent duplicate event id; retry the batch".into()));
        }
    }

    // 5. Add the new events' sums to the counters: atomic increments, one statement.
    let mut committed = HashMap::new();
    let changed: Vec<(&str, i64, Counters)> = groups
        .iter()
        .filter_map(|&g| {
            let (from, to) = (before.get(&g).copied().unwrap_or_default(), totals.get(&g).copied().unwrap_or_default());
            (to != from).then(|| (g.0, g.1, to.minus(from)))
        })
        .collect();
    for chunk in changed.chunks(1000) {
        let sql = format!(
            "INSERT INTO usage_counters (tenant_id, period_start, input_tokens, output_tokens, cost_micros, event_count)
             VALUES {} ON CONFLICT (tenant_id, period_start) DO UPDATE SET
               input_tokens  = usage_counters.input_tokens  + excluded.input_tokens,
               output_tokens = usage_counters.output_tokens + excluded.output_tokens,
               cost_micros   = usage_counters.cost_micros   + excluded.cost_micros,
               event_count   = usage_counters.event_count   + excluded.event_count
             RETURNING tenant_id, period_start, input_tokens, output_tokens, cost_micros, event_count",
            backend.values_list(chunk.len(), 6)
        );
        let mut query = sqlx::query_as::<_, CounterRow>(AssertSqlSafe(sql));
        for (tenant_id, period_start, delta) in chunk {
            query = query
                .bind(*tenant_id)
                .bind(*period_start)
                .bind(delta.input_tokens)
                .bind(delta.output_tokens)
                .bind(delta.cost_micros)
                .bind(delta.event_count);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let expected = totals.get(&(row.tenant_id.as_str(), row.period_start)).copied();
            if expected != Some(row.counters()) {
                // The row changed although it was locked: never expected; refuse to commit.
                return Err(sqlx::Error::Protocol(format!("counter of {} moved during the batch", row.tenant_id)));
            }
        }
    }
    for &(tenant_id, period_start) in &groups {
        let after = totals.get(&(tenant_id, period_start)).copied().unwrap_or_default();
        let newest = committed.entry(tenant_id.to_owned()).or_insert(CommittedTotal { period_start, used_tokens: 0 });
        if period_start >= newest.period_start {
            *newest = CommittedTotal { period_start, used_tokens: after.total_tokens() };
        }
    }
    Ok((outcomes, committed))
}

fn result_of(e: &NewEvent, used_tokens: u64) -> ReportResult {
    ReportResult {
        event_id: e.report.event_id.clone(),
        tenant_id: e.tenant_id.clone(),
        cost_usd: micros_to_usd(e.report.cost_micros),
        used_tokens,
        token_limit: e.token_limit,
        remaining_tokens: e.token_limit.map(|l| l.saturating_sub(used_tokens)),
        resets_at: rfc3339(e.resets_at),
    }
}

/// The stored answer of a replayed event; events recorded before answers were stored get
/// the tenant's current usage instead.
fn replayed_result(e: &NewEvent, stored: Option<&str>, totals: &HashMap<(&str, i64), Counters>) -> ReportResult {
    stored.and_then(|json| serde_json::from_str(json).ok()).unwrap_or_else(|| {
        let used = totals.get(&(e.tenant_id.as_str(), e.period_start)).map(Counters::total_tokens).unwrap_or(0);
        result_of(e, used)
    })
}

/// The tenant's counters for the period starting at `period_start` (zero if none yet).
pub async fn period_counters<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &str,
    period_start: i64,
) -> Result<Counters, sqlx::Error> {
    Ok(sqlx::query_as::<_, Counters>(
        "SELECT input_tokens, output_tokens, cost_micros, event_count, reserved_tokens
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
pub(crate) const CURRENT_PERIOD_START: &str = "t.period_anchor + \
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
                  COALESCE(c.reserved_tokens, 0) AS reserved_tokens,
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
    reserved_tokens: i64,
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
            reserved_tokens: r.reserved_tokens,
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
