//! Shared (PostgreSQL) admission, exact across processes. A call with a demand locks the
//! tenant's counter row for the period (an upsert that returns it), decides with the same
//! `Policy::decide` as the local engine, and when admitted adds its demand to the row's
//! reserved tokens and inserts its reservation row, before commit releases the lock.
//! PostgreSQL serialises the row lock, so two processes can never both take the last tokens.
//! A report deletes its reservation row and gives the tokens back in the same transaction that
//! counts its usage; a sweeper releases expired rows.

use super::admission::{Admission, Reservation, ReservationId, Settling};
use crate::db::Db;
use crate::error::AppError;
use crate::limits::{Decision, Demand, EnforcementMode, Policy, TokenLimit, Usage, UserUsage};
use crate::tenants::store::TenantRecord;
use crate::tenants::TenantId;
use crate::usage::store::CURRENT_PERIOD_START;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::collections::HashMap;

/// One call to decide.
pub struct Request<'a> {
    pub tenant_id: &'a TenantId,
    /// The end user; their override, if they have one, is decided and reserved too.
    pub user_id: Option<&'a str>,
    pub demand: Demand,
    pub now: i64,
    pub ttl_ms: i64,
    pub default_mode: EnforcementMode,
}

/// Decides a call; with a demand the decision reserves, reserves it atomically on the counter
/// row (and on the user's row when the user has an override). Rows are locked tenant first,
/// then user, as every writer of counter rows does.
pub async fn admit(db: &Db, r: Request<'_>) -> Result<Admission, AppError> {
    let (tenant_id, demand, now) = (r.tenant_id, r.demand, r.now);
    // A plain check (or no limit) only reads: one query, no transaction.
    let (policy, usage, user) = read(&db.pool, tenant_id, r.user_id, now).await?;
    let mode = policy.mode_or(r.default_mode);
    let answer = |decision: Decision, usage: Usage, user: Option<UserUsage>, reservation| Admission {
        decision,
        policy,
        period: policy.period_at(now),
        usage,
        user,
        demand,
        reservation,
        now,
    };
    let limited = policy.limits_anything() || user.is_some();
    if demand.is_empty() || mode == EnforcementMode::Off || !limited {
        return Ok(answer(policy.decide(mode, usage, user, demand), usage, user, None));
    }
    let period = policy.period_at(now);
    let mut tx = db.pool.begin().await?;
    // Lock (creating if needed) the counter row; it stays locked until commit.
    let row: UsageRow = sqlx::query_as(
        "INSERT INTO usage_counters (tenant_id, period_start) VALUES ($1, $2)
         ON CONFLICT (tenant_id, period_start) DO UPDATE SET reserved_tokens = usage_counters.reserved_tokens
         RETURNING input_tokens + output_tokens AS used_tokens, reserved_tokens, cost_micros AS spend_micros,
                   reserved_cost_micros, open_reservations",
    )
    .bind(tenant_id.as_str())
    .bind(period.start)
    .fetch_one(&mut *tx)
    .await?;
    let mut usage = row.usage();
    // Then the user's row, when the user has an override.
    let mut user = match (r.user_id, user) {
        (Some(user_id), Some(meter)) => {
            let (used, reserved): (i64, i64) = sqlx::query_as(
                "INSERT INTO user_usage_counters (tenant_id, user_id, period_start) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, user_id, period_start) DO UPDATE SET reserved_tokens = user_usage_counters.reserved_tokens
                 RETURNING input_tokens + output_tokens, reserved_tokens",
            )
            .bind(tenant_id.as_str())
            .bind(user_id)
            .bind(period.start)
            .fetch_one(&mut *tx)
            .await?;
            Some(UserUsage { used_tokens: used.max(0) as u64, reserved_tokens: reserved.max(0) as u64, ..meter })
        }
        _ => None,
    };
    let decision = policy.decide(mode, usage, user, demand);
    if !decision.reserves {
        tx.commit().await?;
        return Ok(answer(decision, usage, user, None));
    }
    let reservation = Reservation { id: ReservationId::random(), expires_at: now + r.ttl_ms };
    let held_user = r.user_id.filter(|_| user.is_some());
    // One round trip: the reservation row and the counter's reserved figures together.
    sqlx::query(
        "WITH held AS (
           INSERT INTO reservations (id, tenant_id, period_start, tokens, expires_at, cost_micros, user_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
         )
         UPDATE usage_counters SET reserved_tokens = reserved_tokens + $4, reserved_cost_micros = reserved_cost_micros + $6,
                                   open_reservations = open_reservations + 1
         WHERE tenant_id = $2 AND period_start = $3",
    )
    .bind(reservation.id.to_string())
    .bind(tenant_id.as_str())
    .bind(period.start)
    .bind(demand.tokens as i64)
    .bind(reservation.expires_at)
    .bind(demand.cost_micros as i64)
    .bind(held_user)
    .execute(&mut *tx)
    .await?;
    if let Some(user_id) = held_user {
        hold_user(&mut tx, tenant_id.as_str(), user_id, period.start, demand.tokens as i64).await?;
    }
    tx.commit().await?;
    usage.reserve(demand);
    if let Some(u) = &mut user {
        u.reserved_tokens += demand.tokens;
    }
    Ok(answer(decision, usage, user, Some(reservation)))
}

/// Adds `tokens` (negative: gives them back) to a user's reserved tokens.
async fn hold_user(
    conn: &mut AnyConnection,
    tenant_id: &str,
    user_id: &str,
    period_start: i64,
    tokens: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_usage_counters SET reserved_tokens = reserved_tokens + $4
         WHERE tenant_id = $1 AND user_id = $2 AND period_start = $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(period_start)
    .bind(tokens)
    .execute(conn)
    .await?;
    Ok(())
}

/// Releases reservations that expired at or before `now`; returns how many stay open.
pub async fn sweep(db: &Db, now: i64) -> Result<u64, AppError> {
    let mut tx = db.pool.begin().await?;
    let expired: Vec<(String, i64, i64, i64, Option<String>)> = sqlx::query_as(
        "DELETE FROM reservations WHERE expires_at <= $1 RETURNING tenant_id, period_start, tokens, cost_micros, user_id",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut sums: HashMap<(String, i64), (i64, i64, i64)> = HashMap::new();
    let mut user_sums: HashMap<(String, String, i64), i64> = HashMap::new();
    for (tenant_id, period_start, tokens, cost_micros, user_id) in expired {
        if let Some(user_id) = user_id {
            *user_sums.entry((tenant_id.clone(), user_id, period_start)).or_default() += tokens;
        }
        let sum = sums.entry((tenant_id, period_start)).or_default();
        *sum = (sum.0 + tokens, sum.1 + cost_micros, sum.2 + 1);
    }
    // In a fixed order, as every writer of counter rows does (tenants' rows, then users'), so
    // sweepers cannot deadlock.
    let mut groups: Vec<_> = sums.into_iter().collect();
    groups.sort();
    for ((tenant_id, period_start), (tokens, cost_micros, count)) in groups {
        give_back(&mut tx, &tenant_id, period_start, (tokens, cost_micros, count)).await?;
    }
    let mut users: Vec<_> = user_sums.into_iter().collect();
    users.sort();
    for ((tenant_id, user_id, period_start), tokens) in users {
        hold_user(&mut tx, &tenant_id, &user_id, period_start, -tokens).await?;
    }
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(open.max(0) as u64)
}

/// Settles a reservation inside the writer's transaction: deletes it and gives its tokens back
/// (to the user's row too, when it held one; the writer holds the tenant's row already).
pub async fn settle(conn: &mut AnyConnection, settling: &Settling) -> Result<(), sqlx::Error> {
    let row: Option<(i64, i64, i64, Option<String>)> = sqlx::query_as(
        "DELETE FROM reservations WHERE id = $1 AND tenant_id = $2 RETURNING period_start, tokens, cost_micros, user_id",
    )
    .bind(settling.reservation.to_string())
    .bind(settling.tenant_id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((period_start, tokens, cost_micros, user_id)) = row {
        let tenant_id = settling.tenant_id.as_str();
        give_back(conn, tenant_id, period_start, (tokens, cost_micros, 1)).await?;
        if let Some(user_id) = user_id {
            hold_user(conn, tenant_id, &user_id, period_start, -tokens).await?;
        }
    }
    Ok(())
}

/// Gives back what `count` reservations held: (tokens, cost, count).
async fn give_back(
    conn: &mut AnyConnection,
    tenant_id: &str,
    period_start: i64,
    (tokens, cost_micros, count): (i64, i64, i64),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE usage_counters SET reserved_tokens = reserved_tokens - $3, reserved_cost_micros = reserved_cost_micros - $4,
                                   open_reservations = open_reservations - $5
         WHERE tenant_id = $1 AND period_start = $2",
    )
    .bind(tenant_id)
    .bind(period_start)
    .bind(tokens)
    .bind(cost_micros)
    .bind(count)
    .execute(conn)
    .await?;
    Ok(())
}

/// A counter row's figures that admission decides on.
#[derive(sqlx::FromRow)]
struct UsageRow {
    used_tokens: i64,
    reserved_tokens: i64,
    spend_micros: i64,
    reserved_cost_micros: i64,
    open_reservations: i64,
}

impl UsageRow {
    fn usage(&self) -> Usage {
        let n = |v: i64| v.max(0) as u64;
        Usage {
            used_tokens: n(self.used_tokens),
            reserved_tokens: n(self.reserved_tokens),
            spend_micros: n(self.spend_micros),
            reserved_micros: n(self.reserved_cost_micros),
            open_reservations: n(self.open_reservations),
        }
    }
}

/// The tenant's policy, its current period's used and reserved figures, and the user's
/// override with their counter when `user_id` names a user who has one, in one query.
async fn read(
    pool: &sqlx::AnyPool,
    tenant_id: &TenantId,
    user_id: Option<&str>,
    now: i64,
) -> Result<(Policy, Usage, Option<UserUsage>), AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        tenant: TenantRecord,
        #[sqlx(flatten)]
        usage: UsageRow,
        user_limit: Option<i64>,
        user_used: i64,
        user_reserved: i64,
    }
    let sql = format!(
        "SELECT t.*, COALESCE(c.input_tokens + c.output_tokens, 0) AS used_tokens,
                COALESCE(c.reserved_tokens, 0) AS reserved_tokens, COALESCE(c.cost_micros, 0) AS spend_micros,
                COALESCE(c.reserved_cost_micros, 0) AS reserved_cost_micros,
                COALESCE(c.open_reservations, 0) AS open_reservations,
                ul.token_limit AS user_limit, COALESCE(uc.input_tokens + uc.output_tokens, 0) AS user_used,
                COALESCE(uc.reserved_tokens, 0) AS user_reserved
         FROM tenants t
         LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period_start = {CURRENT_PERIOD_START}
         LEFT JOIN user_limits ul ON ul.tenant_id = t.id AND ul.user_id = $3
         LEFT JOIN user_usage_counters uc
           ON uc.tenant_id = t.id AND uc.user_id = $3 AND uc.period_start = {CURRENT_PERIOD_START}
         WHERE t.id = $2"
    );
    let row = sqlx::query_as::<_, Row>(AssertSqlSafe(sql))
        .bind(now)
        .bind(tenant_id.as_str())
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
    // The key was valid a moment ago; a tenant gone since answers like a revoked key.
    let row = row.ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))?;
    let user = row.user_limit.and_then(|l| TokenLimit::new(u64::try_from(l).ok()?).ok()).map(|limit| UserUsage {
        limit,
        used_tokens: row.user_used.max(0) as u64,
        reserved_tokens: row.user_reserved.max(0) as u64,
    });
    Ok((row.tenant.policy(), row.usage.usage(), user))
}
