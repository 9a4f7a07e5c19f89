//! Usage events and per-period counters. A batch of reports is recorded in one transaction, in
//! named steps: lock the counter rows, find the ids seen before, plan (pure, `batch.rs`),
//! insert the new events, add the gains to the counters, store the budget alerts reached.

use super::batch::{
    counter_keys, plan, Committed, CounterKey, Counters, EventKey, NewEvent, Recorded, Seen, UserCounterKey, UserTotal,
};
use super::model::{SortKey, UsagePage, UsageQuery, UsageRow, PAGE_SIZE};
use super::report::ReportResult;
use crate::budgets::rules::BudgetConfig;
use crate::db::Backend;
use crate::limits::EnforcementMode;
use crate::tenants::TenantId;
use std::collections::HashMap;
// Dynamic SQL here is built only from constants and the SortKey whitelist, never from input.
use sqlx::{AnyConnection, AnyExecutor, AssertSqlSafe, FromRow};

/// Statements carry at most this many rows (SQLite's parameter limit is 32 766).
const ROWS_PER_STATEMENT: usize = 1000;

/// The columns a batch reads back from `usage_counters` (as [`CounterRow`]).
const COUNTER_COLUMNS: &str = "tenant_id, period_start, input_tokens, output_tokens, cache_read_tokens, \
    cache_write_tokens, reasoning_tokens, cost_micros, event_count, unpriced_events";

/// A counter row as the statements return it.
#[derive(FromRow)]
struct CounterRow {
    tenant_id: String,
    period_start: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    reasoning_tokens: i64,
    cost_micros: i64,
    event_count: i64,
    unpriced_events: i64,
}

impl CounterRow {
    /// The recorded totals (reservations are not part of a batch's arithmetic).
    fn counters(&self) -> Counters {
        Counters {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            cost_micros: self.cost_micros,
            event_count: self.event_count,
            unpriced_events: self.unpriced_events,
            ..Counters::default()
        }
    }
}

/// Records a batch of events in the caller's transaction, in order, with a handful of
/// statements however many events and tenants it holds. Returns each event's outcome and what
/// the counters hold after it.
pub async fn record_batch(
    conn: &mut AnyConnection,
    events: &[NewEvent],
) -> Result<(Vec<Recorded>, Committed), sqlx::Error> {
    let keys = counter_keys(events);
    let before = lock_counters(conn, &keys).await?;
    let seen = seen_before(conn, events).await?;
    let plan = plan(events, &before, &seen);
    insert_events(conn, events, &plan.fresh, &plan.outcomes).await?;
    add_gains(conn, &plan.gains, &plan.totals).await?;
    let users = add_user_gains(conn, &plan.user_gains).await?;
    crate::alerts::store::insert_reached(conn, &plan.alerts(events)).await?;
    let committed = Committed { tenants: plan.committed_totals(), users };
    Ok((plan.outcomes, committed))
}

/// Step 1: locks (creating them if needed) the batch's counter rows in `keys`' order, so
/// concurrent processes cannot deadlock; their totals are then stable until commit.
async fn lock_counters<'a>(
    conn: &mut AnyConnection,
    keys: &[CounterKey<'a>],
) -> Result<HashMap<CounterKey<'a>, Counters>, sqlx::Error> {
    let backend = Backend::of_connection(conn);
    let mut before = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO usage_counters (tenant_id, period_start) VALUES {}
             ON CONFLICT (tenant_id, period_start) DO UPDATE SET event_count = usage_counters.event_count
             RETURNING {COUNTER_COLUMNS}",
            backend.values_list(chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, CounterRow>(AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(key.tenant_id).bind(key.period_start);
        }
        for row in query.fetch_all(&mut *conn).await? {
            // Keys borrow from the events; find the one this row answers.
            let found = CounterKey { tenant_id: &row.tenant_id, period_start: row.period_start };
            if let Ok(i) = keys.binary_search(&found) {
                before.insert(keys[i], row.counters());
            }
        }
    }
    Ok(before)
}

/// Step 2: which of the batch's ids were recorded before, with the answers stored with them.
async fn seen_before<'a>(conn: &mut AnyConnection, events: &'a [NewEvent]) -> Result<Seen<'a>, sqlx::Error> {
    let backend = Backend::of_connection(conn);
    let mut keys: Vec<EventKey> = events.iter().map(NewEvent::event_key).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut seen = Seen::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT tenant_id, event_id, result FROM usage_events WHERE (tenant_id, event_id) IN (VALUES {})",
            backend.values_list(chunk.len(), 2)
        );
        let mut query = sqlx::query_as::<_, (String, String, Option<String>)>(AssertSqlSafe(sql));
        for key in chunk {
            query = query.bind(key.tenant_id).bind(key.event_id);
        }
        for (tenant_id, event_id, result) in query.fetch_all(&mut *conn).await? {
            let found = EventKey { tenant_id: &tenant_id, event_id: &event_id };
            if let Ok(i) = keys.binary_search(&found) {
                let stored = result.and_then(|json| serde_json::from_str::<ReportResult>(&json).ok());
                seen.insert(keys[i], stored);
            }
        }
    }
    Ok(seen)
}

/// Step 4: inserts the new events with their answers.
async fn insert_events(
    conn: &mut AnyConnection,
    events: &[NewEvent],
    fresh: &[usize],
    outcomes: &[Recorded],
) -> Result<(), sqlx::Error> {
    let backend = Backend::of_connection(conn);
    for chunk in fresh.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO usage_events (tenant_id, event_id, agent_id, user_id, model, input_tokens, output_tokens,
             cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens,
             cost_micros, cost_source, occurred_at, period_start, result)
             VALUES {} ON CONFLICT (tenant_id, event_id) DO NOTHING",
            backend.values_list(chunk.len(), 16)
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
                .bind(r.usage.input_tokens)
                .bind(r.usage.output_tokens)
                .bind(r.usage.cache_read_tokens)
                .bind(r.usage.cache_write_5m_tokens)
                .bind(r.usage.cache_write_1h_tokens)
                .bind(r.usage.reasoning_tokens)
                .bind(r.cost_micros)
                .bind(r.cost_source.as_str())
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
    Ok(())
}

/// Step 5: adds the gains to the counters with atomic increments, and checks that each row
/// ends where the plan said (it was locked in step 1, so anything else is a bug: refuse).
async fn add_gains(
    conn: &mut AnyConnection,
    gains: &[(CounterKey<'_>, Counters)],
    totals: &HashMap<CounterKey<'_>, Counters>,
) -> Result<(), sqlx::Error> {
    let backend = Backend::of_connection(conn);
    for chunk in gains.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO usage_counters
               (tenant_id, period_start, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, cost_micros, event_count, unpriced_events)
             VALUES {} ON CONFLICT (tenant_id, period_start) DO UPDATE SET
               input_tokens    = usage_counters.input_tokens    + excluded.input_tokens,
               output_tokens   = usage_counters.output_tokens   + excluded.output_tokens,
               cache_read_tokens  = usage_counters.cache_read_tokens  + excluded.cache_read_tokens,
               cache_write_tokens = usage_counters.cache_write_tokens + excluded.cache_write_tokens,
               reasoning_tokens   = usage_counters.reasoning_tokens   + excluded.reasoning_tokens,
               cost_micros     = usage_counters.cost_micros     + excluded.cost_micros,
               event_count     = usage_counters.event_count     + excluded.event_count,
               unpriced_events = usage_counters.unpriced_events + excluded.unpriced_events
             RETURNING {COUNTER_COLUMNS}",
            backend.values_list(chunk.len(), 10)
        );
        let mut query = sqlx::query_as::<_, CounterRow>(AssertSqlSafe(sql));
        for (key, gain) in chunk {
            query = query
                .bind(key.tenant_id)
                .bind(key.period_start)
                .bind(gain.input_tokens)
                .bind(gain.output_tokens)
                .bind(gain.cache_read_tokens)
                .bind(gain.cache_write_tokens)
                .bind(gain.reasoning_tokens)
                .bind(gain.cost_micros)
                .bind(gain.event_count)
                .bind(gain.unpriced_events);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let key = CounterKey { tenant_id: &row.tenant_id, period_start: row.period_start };
            if totals.get(&key).copied() != Some(row.counters()) {
                return Err(sqlx::Error::Protocol(format!("counter of {} moved during the batch", row.tenant_id)));
            }
        }
    }
    Ok(())
}

/// Step 6: adds the user gains to the users' counters (after the tenants' rows, which this
/// transaction already holds, so the lock order is tenants then users everywhere), returning
/// each user counter's new total.
async fn add_user_gains(
    conn: &mut AnyConnection,
    gains: &[(UserCounterKey<'_>, Counters)],
) -> Result<Vec<UserTotal>, sqlx::Error> {
    let backend = Backend::of_connection(conn);
    let mut totals = Vec::with_capacity(gains.len());
    for chunk in gains.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO user_usage_counters
               (tenant_id, user_id, period_start, input_tokens, output_tokens, cost_micros, event_count)
             VALUES {} ON CONFLICT (tenant_id, user_id, period_start) DO UPDATE SET
               input_tokens  = user_usage_counters.input_tokens  + excluded.input_tokens,
               output_tokens = user_usage_counters.output_tokens + excluded.output_tokens,
               cost_micros   = user_usage_counters.cost_micros   + excluded.cost_micros,
               event_count   = user_usage_counters.event_count   + excluded.event_count
             RETURNING tenant_id, user_id, period_start, input_tokens + output_tokens",
            backend.values_list(chunk.len(), 7)
        );
        let mut query = sqlx::query_as::<_, (String, String, i64, i64)>(AssertSqlSafe(sql));
        for (key, gain) in chunk {
            query = query
                .bind(key.tenant_id)
                .bind(key.user_id)
                .bind(key.period_start)
                .bind(gain.input_tokens)
                .bind(gain.output_tokens)
                .bind(gain.cost_micros)
                .bind(gain.event_count);
        }
        for (tenant_id, user_id, period_start, used) in query.fetch_all(&mut *conn).await? {
            let Ok(tenant_id) = TenantId::parse(&tenant_id) else { continue };
            totals.push(UserTotal { tenant_id, user_id, period_start, used_tokens: used.max(0) as u64 });
        }
    }
    Ok(totals)
}

/// The tenant's counters for the period starting at `period_start` (zero if none yet).
pub async fn period_counters<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
    period_start: i64,
) -> Result<Counters, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        input_tokens: i64,
        output_tokens: i64,
        cache_read_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        cost_micros: i64,
        event_count: i64,
        unpriced_events: i64,
        reserved_tokens: i64,
        reserved_cost_micros: i64,
        would_refuse_count: i64,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
                cost_micros, event_count, unpriced_events, reserved_tokens,
                reserved_cost_micros, would_refuse_count
         FROM usage_counters WHERE tenant_id = $1 AND period_start = $2",
    )
    .bind(tenant_id.as_str())
    .bind(period_start)
    .fetch_optional(exec)
    .await?;
    Ok(row
        .map(|r| Counters {
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cache_read_tokens: r.cache_read_tokens,
            cache_write_tokens: r.cache_write_tokens,
            reasoning_tokens: r.reasoning_tokens,
            cost_micros: r.cost_micros,
            event_count: r.event_count,
            unpriced_events: r.unpriced_events,
            reserved_tokens: r.reserved_tokens,
            reserved_cost_micros: r.reserved_cost_micros,
            would_refuse_count: r.would_refuse_count,
        })
        .unwrap_or_default())
}

/// Every tenant with a token limit and its tokens used this period over that limit.
pub async fn token_usage_ratios<'c>(exec: impl AnyExecutor<'c>, now: i64) -> Result<Vec<(String, f64)>, sqlx::Error> {
    let sql = format!(
        "SELECT t.id, COALESCE(c.input_tokens + c.output_tokens, 0), t.token_limit
         FROM tenants t LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period_start = {CURRENT_PERIOD_START}
         WHERE t.token_limit IS NOT NULL"
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(AssertSqlSafe(sql)).bind(now).fetch_all(exec).await?;
    Ok(rows.into_iter().map(|(id, used, limit)| (id, used as f64 / limit.max(1) as f64)).collect())
}

/// Counts calls monitor mode let through that enforce mode would have refused, `n` for the
/// tenant's period starting at `period_start`.
pub async fn add_would_refuse<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &str,
    period_start: i64,
    n: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO usage_counters (tenant_id, period_start, would_refuse_count) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, period_start) DO UPDATE SET would_refuse_count = usage_counters.would_refuse_count + excluded.would_refuse_count",
    )
    .bind(tenant_id)
    .bind(period_start)
    .bind(n)
    .execute(exec)
    .await?;
    Ok(())
}

/// A tenant's spend per day in the period starting at `period_start`: (day number, micro-USD),
/// day number = Unix ms / one day, for the days that had events.
pub async fn daily_spend<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
    period_start: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT occurred_at / 86400000 AS day, CAST(SUM(cost_micros) AS BIGINT) AS micros FROM usage_events
         WHERE tenant_id = $1 AND period_start = $2 GROUP BY occurred_at / 86400000 ORDER BY day",
    )
    .bind(tenant_id.as_str())
    .bind(period_start)
    .fetch_all(exec)
    .await
}

/// The start of each tenant's current period at instant `$1`, in SQL. It mirrors
/// `limits::period::Schedule::period_at` (a test checks they agree on both backends): from
/// `next_period_from` on, periods of `next_period_days`; before it, of `period_days` from the anchor.
pub(crate) const CURRENT_PERIOD_START: &str = "CASE WHEN t.next_period_from IS NOT NULL AND $1 >= t.next_period_from \
     THEN t.next_period_from + (($1 - t.next_period_from) / (t.next_period_days * 86400000)) * (t.next_period_days * 86400000) \
     ELSE t.period_anchor + \
     ((CASE WHEN $1 > t.period_anchor THEN $1 - t.period_anchor ELSE 0 END) / (t.period_days * 86400000)) \
     * (t.period_days * 86400000) END";

/// The filter condition with only the filters in use (so PostgreSQL's cached generic plan
/// knows the rows it will get: with `$x IS NULL OR …` it expected one row and sorted all
/// 10,000 tenants through a nested loop, 41 ms): a LIKE pattern on the lowered id or name
/// when there is filter text, the one tenant the viewer may see when scoped. Parameters are
/// numbered from `first`; returns the condition and the values to bind, in order.
fn filter(pattern: Option<&str>, scope: Option<&TenantId>, first: usize) -> (String, Vec<String>) {
    let mut conditions = vec!["TRUE".to_owned()];
    let mut values = Vec::new();
    if let Some(pattern) = pattern {
        let n = first + values.len();
        conditions.push(format!("(LOWER(t.id) LIKE ${n} ESCAPE '\\' OR LOWER(t.display_name) LIKE ${n} ESCAPE '\\')"));
        values.push(pattern.to_owned());
    }
    if let Some(scope) = scope {
        conditions.push(format!("t.id = ${}", first + values.len()));
        values.push(scope.as_str().to_owned());
    }
    (conditions.join(" AND "), values)
}

fn order_by(sort: SortKey, desc: bool, default_mode: EnforcementMode) -> String {
    let by_mode;
    let column = match sort {
        SortKey::TenantId => "tenant_id",
        SortKey::InputTokens => "input_tokens",
        SortKey::OutputTokens => "output_tokens",
        SortKey::TotalTokens => "total_tokens",
        SortKey::TotalCost => "cost_micros",
        // No Limit has no percentage; NULLS LAST keeps those rows at the end either way.
        // Floating-point ratios: `* 1.0` made PostgreSQL divide NUMERICs, 10,000 of them per page.
        SortKey::UsagePct => {
            "CASE WHEN token_limit IS NULL THEN NULL ELSE CAST(total_tokens AS DOUBLE PRECISION) / token_limit END"
        }
        SortKey::Budget => {
            "CASE WHEN max_budget_micros IS NULL THEN NULL ELSE CAST(cost_micros AS DOUBLE PRECISION) / max_budget_micros END"
        }
        // A tenant without its own mode is in the server's default (a literal from our enum).
        SortKey::Mode => {
            by_mode = format!(
                "CASE COALESCE(enforcement_mode, '{}') WHEN 'off' THEN 0 WHEN 'monitor' THEN 1 ELSE 2 END",
                default_mode.as_str()
            );
            &by_mode
        }
        SortKey::Overrides => "sort_override_count",
    };
    let dir = if desc { "DESC" } else { "ASC" };
    format!("{column} {dir} NULLS LAST, tenant_id ASC")
}

/// One page of the usage table: each tenant's counters for its current period at `now`,
/// only `scope`'s row when a scope is given.
pub async fn list_usage(
    pool: &sqlx::AnyPool,
    query: &UsageQuery,
    scope: Option<&TenantId>,
    default_mode: EnforcementMode,
    now: i64,
) -> Result<UsagePage, sqlx::Error> {
    let needle = query.q.to_lowercase();
    let pattern = (!needle.is_empty()).then(|| format!("%{}%", escape_like(&needle)));
    // Overrides are counted for the page's rows only, after the sort and the limit: counting
    // them for every tenant first made a deep page sorted by budget take 80 ms at 10,000 tenants.
    // Sorting by the count needs it for every tenant (an index range count each).
    let order = order_by(query.sort, query.desc, default_mode);
    let sort_count = if query.sort == SortKey::Overrides {
        ", (SELECT COUNT(*) FROM user_limits ul WHERE ul.tenant_id = t.id) AS sort_override_count"
    } else {
        ""
    };
    let (condition, values) = filter(pattern.as_deref(), scope, 4);
    let sql = format!(
        "SELECT p.*, (SELECT COUNT(*) FROM user_limits ul WHERE ul.tenant_id = p.tenant_id) AS override_count
         FROM (
           SELECT * FROM (
             SELECT t.id AS tenant_id, t.display_name, t.token_limit, t.max_budget_micros,
                    t.alert_threshold_pct, t.grace_threshold_pct,
                    COALESCE(t.next_period_days, t.period_days) AS period_days, t.enforcement_mode,
                    t.budget_ceiling_micros,
                    COALESCE(c.input_tokens, 0) AS input_tokens,
                    COALESCE(c.output_tokens, 0) AS output_tokens,
                    COALESCE(c.input_tokens, 0) + COALESCE(c.output_tokens, 0) AS total_tokens,
                    COALESCE(c.reserved_tokens, 0) AS reserved_tokens,
                    COALESCE(c.cost_micros, 0) AS cost_micros{sort_count}
             FROM tenants t
             LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period_start = {CURRENT_PERIOD_START}
             WHERE {condition}
           ) AS u
           ORDER BY {order}
           LIMIT $2 OFFSET $3
         ) AS p
         ORDER BY {order}"
    );
    let mut rows = sqlx::query_as::<_, UsageRowRecord>(AssertSqlSafe(sql))
        .bind(now)
        .bind(i64::from(PAGE_SIZE))
        .bind(query.offset() as i64);
    for value in &values {
        rows = rows.bind(value.as_str());
    }
    let rows = rows.fetch_all(pool).await?;
    let (condition, values) = filter(pattern.as_deref(), scope, 1);
    let mut count =
        sqlx::query_as::<_, (i64,)>(AssertSqlSafe(format!("SELECT COUNT(*) FROM tenants t WHERE {condition}")));
    for value in &values {
        count = count.bind(value.as_str());
    }
    let (total_rows,) = count.fetch_one(pool).await?;
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
    max_budget_micros: Option<i64>,
    alert_threshold_pct: i64,
    grace_threshold_pct: i64,
    period_days: i64,
    enforcement_mode: Option<String>,
    budget_ceiling_micros: Option<i64>,
    override_count: i64,
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
            budget: BudgetConfig::from_stored(
                r.max_budget_micros,
                r.alert_threshold_pct,
                r.grace_threshold_pct,
                r.period_days,
            ),
            mode: crate::limits::EnforcementMode::from_stored(r.enforcement_mode.as_deref()),
            override_count: r.override_count,
            budget_ceiling_micros: r.budget_ceiling_micros,
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

/// One event of the usage history.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct HistoryEvent {
    pub tenant_id: String,
    pub event_id: String,
    pub agent_id: i64,
    pub user_id: Option<String>,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_5m_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_micros: i64,
    /// `reported`, `price_file`, `genai_prices` or `unknown_model`; `None` for events recorded
    /// before the source was kept in its own column.
    pub cost_source: Option<String>,
    pub occurred_at: i64,
}

/// A page of a tenant's usage events, newest first, filtered as the query says; the page has
/// `limit + 1` rows read so the caller knows whether another follows. Only the filters given
/// are in the SQL, so each combination gets its own plan on the (tenant, occurred_at) or
/// (tenant, user, occurred_at) index rather than one plan for all.
pub async fn history<'c>(
    exec: impl AnyExecutor<'c>,
    q: &super::history::HistoryQuery,
) -> Result<Vec<HistoryEvent>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT tenant_id, event_id, agent_id, user_id, model, input_tokens, output_tokens, cache_read_tokens,
                cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, cost_micros, cost_source, occurred_at
         FROM usage_events WHERE tenant_id = $1",
    );
    let mut n = 1;
    let mut next = || {
        n += 1;
        n
    };
    if q.user_id.is_some() {
        sql.push_str(&format!(" AND user_id = ${}", next()));
    }
    if q.model.is_some() {
        sql.push_str(&format!(" AND model = ${}", next()));
    }
    if q.from.is_some() {
        sql.push_str(&format!(" AND occurred_at >= ${}", next()));
    }
    if q.to.is_some() {
        sql.push_str(&format!(" AND occurred_at < ${}", next()));
    }
    if q.after.is_some() {
        let (at, id) = (next(), next());
        sql.push_str(&format!(" AND (occurred_at < ${at} OR (occurred_at = ${at} AND event_id < ${id}))"));
    }
    sql.push_str(&format!(" ORDER BY occurred_at DESC, event_id DESC LIMIT ${}", next()));
    let mut query = sqlx::query_as(AssertSqlSafe(sql)).bind(q.tenant_id.as_str());
    if let Some(user_id) = &q.user_id {
        query = query.bind(user_id.as_str());
    }
    if let Some(model) = &q.model {
        query = query.bind(model.as_str());
    }
    if let Some(from) = q.from {
        query = query.bind(from);
    }
    if let Some(to) = q.to {
        query = query.bind(to);
    }
    if let Some(after) = &q.after {
        query = query.bind(after.occurred_at).bind(after.event_id.as_str());
    }
    query.bind(i64::from(q.limit) + 1).fetch_all(exec).await
}

/// A tenant's usage since `from` grouped by `user_id` (`by_user`) or by `model`, biggest first,
/// at most `limit` groups; read on the (tenant, occurred_at) index.
pub async fn breakdown<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
    from: i64,
    by_user: bool,
    limit: u32,
) -> Result<Vec<super::breakdown::BreakdownRow>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        key: Option<String>,
        input_tokens: i64,
        output_tokens: i64,
        cache_read_tokens: i64,
        cache_write_tokens: i64,
        reasoning_tokens: i64,
        cost_micros: i64,
        event_count: i64,
    }
    // The column is one of two constants, never input. PostgreSQL's SUM of BIGINT is NUMERIC.
    let column = if by_user { "user_id" } else { "model" };
    let sql = format!(
        "SELECT {column} AS key, CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,
                CAST(SUM(output_tokens) AS BIGINT) AS output_tokens,
                CAST(SUM(cache_read_tokens) AS BIGINT) AS cache_read_tokens,
                CAST(SUM(cache_write_5m_tokens + cache_write_1h_tokens) AS BIGINT) AS cache_write_tokens,
                CAST(SUM(reasoning_tokens) AS BIGINT) AS reasoning_tokens,
                CAST(SUM(cost_micros) AS BIGINT) AS cost_micros, COUNT(*) AS event_count
         FROM usage_events WHERE tenant_id = $1 AND occurred_at >= $2
         GROUP BY {column} ORDER BY SUM(input_tokens + output_tokens) DESC, {column} LIMIT $3"
    );
    let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(tenant_id.as_str())
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(exec)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| super::breakdown::BreakdownRow {
            key: r.key,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cache_read_tokens: r.cache_read_tokens,
            cache_write_tokens: r.cache_write_tokens,
            reasoning_tokens: r.reasoning_tokens,
            cost_micros: r.cost_micros,
            event_count: r.event_count,
        })
        .collect())
}
