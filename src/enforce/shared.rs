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
use crate::limits::{Decision, Demand, Policy, Usage};
use crate::tenants::store::TenantRecord;
use crate::tenants::TenantId;
use crate::usage::store::CURRENT_PERIOD_START;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::collections::HashMap;

/// Decides a call; with a demand under a limit, reserves it atomically on the counter row.
pub async fn admit(
    db: &Db,
    tenant_id: &TenantId,
    demand: Demand,
    now: i64,
    ttl_ms: i64,
) -> Result<Admission, AppError> {
    // A plain check (or no limit) only reads: one query, no transaction.
    let (policy, usage) = read(&db.pool, tenant_id, now).await?;
    let answer = |decision: Decision, usage: Usage, reservation| Admission {
        decision,
        policy,
        period: policy.period_at(now),
        usage,
        demand,
        reservation,
        now,
    };
    if demand.is_empty() || !policy.limits_anything() {
        return Ok(answer(policy.decide(usage, demand), usage, None));
    }
    let period = policy.period_at(now);
    let mut tx = db.pool.begin().await?;
    // Lock (creating if needed) the counter row; it stays locked until commit.
    let row: UsageRow = sqlx::query_as(
        "INSERT INTO usage_counters (tenant_id, period_start) VALUES ($1, $2)
         ON CONFLICT (tenant_id, period_start) DO UPDATE SET reserved_tokens = usage_counters.reserved_tokens
         RETURNING input_tokens + output_tokens AS used_tokens, reserved_tokens, cost_micros AS spend_micros,
                   reserved_cost_micros",
    )
    .bind(tenant_id.as_str())
    .bind(period.start)
    .fetch_one(&mut *tx)
    .await?;
    let mut usage = row.usage();
    let decision = policy.decide(usage, demand);
    if !decision.allowed {
        tx.commit().await?;
        return Ok(answer(decision, usage, None));
    }
    let reservation = Reservation { id: ReservationId::random(), expires_at: now + ttl_ms };
    // One round trip: the reservation row and the counter's reserved figures together.
    sqlx::query(
        "WITH held AS (
           INSERT INTO reservations (id, tenant_id, period_start, tokens, expires_at, cost_micros)
           VALUES ($1, $2, $3, $4, $5, $6)
         )
         UPDATE usage_counters SET reserved_tokens = reserved_tokens + $4, reserved_cost_micros = reserved_cost_micros + $6
         WHERE tenant_id = $2 AND period_start = $3",
    )
    .bind(reservation.id.to_string())
    .bind(tenant_id.as_str())
    .bind(period.start)
    .bind(demand.tokens as i64)
    .bind(reservation.expires_at)
    .bind(demand.cost_micros as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    usage.reserve(demand);
    Ok(answer(decision, usage, Some(reservation)))
}

/// Releases reservations that expired at or before `now`.
pub async fn sweep(db: &Db, now: i64) -> Result<(), AppError> {
    let mut tx = db.pool.begin().await?;
    let expired: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "DELETE FROM reservations WHERE expires_at <= $1 RETURNING tenant_id, period_start, tokens, cost_micros",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let mut sums: HashMap<(String, i64), (i64, i64)> = HashMap::new();
    for (tenant_id, period_start, tokens, cost_micros) in expired {
        let sum = sums.entry((tenant_id, period_start)).or_default();
        *sum = (sum.0 + tokens, sum.1 + cost_micros);
    }
    // In a fixed order, as every writer of counter rows does, so sweepers cannot deadlock.
    let mut groups: Vec<_> = sums.into_iter().collect();
    groups.sort();
    for ((tenant_id, period_start), (tokens, cost_micros)) in groups {
        give_back(&mut tx, &tenant_id, period_start, tokens, cost_micros).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Settles a reservation inside the writer's transaction: deletes it and gives its tokens back.
pub async fn settle(conn: &mut AnyConnection, settling: &Settling) -> Result<(), sqlx::Error> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "DELETE FROM reservations WHERE id = $1 AND tenant_id = $2 RETURNING period_start, tokens, cost_micros",
    )
    .bind(settling.reservation.to_string())
    .bind(settling.tenant_id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((period_start, tokens, cost_micros)) = row {
        give_back(conn, settling.tenant_id.as_str(), period_start, tokens, cost_micros).await?;
    }
    Ok(())
}

async fn give_back(
    conn: &mut AnyConnection,
    tenant_id: &str,
    period_start: i64,
    tokens: i64,
    cost_micros: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE usage_counters SET reserved_tokens = reserved_tokens - $3, reserved_cost_micros = reserved_cost_micros - $4
         WHERE tenant_id = $1 AND period_start = $2",
    )
    .bind(tenant_id)
    .bind(period_start)
    .bind(tokens)
    .bind(cost_micros)
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
}

impl UsageRow {
    fn usage(&self) -> Usage {
        let n = |v: i64| v.max(0) as u64;
        Usage {
            used_tokens: n(self.used_tokens),
            reserved_tokens: n(self.reserved_tokens),
            spend_micros: n(self.spend_micros),
            reserved_micros: n(self.reserved_cost_micros),
        }
    }
}

/// The tenant's policy and its current period's used and reserved tokens, in one query.
async fn read(pool: &sqlx::AnyPool, tenant_id: &TenantId, now: i64) -> Result<(Policy, Usage), AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        tenant: TenantRecord,
        #[sqlx(flatten)]
        usage: UsageRow,
    }
    let sql = format!(
        "SELECT t.*, COALESCE(c.input_tokens + c.output_tokens, 0) AS used_tokens,
                COALESCE(c.reserved_tokens, 0) AS reserved_tokens, COALESCE(c.cost_micros, 0) AS spend_micros,
                COALESCE(c.reserved_cost_micros, 0) AS reserved_cost_micros
         FROM tenants t LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period_start = {CURRENT_PERIOD_START}
         WHERE t.id = $2"
    );
    let row =
        sqlx::query_as::<_, Row>(AssertSqlSafe(sql)).bind(now).bind(tenant_id.as_str()).fetch_optional(pool).await?;
    // The key was valid a moment ago; a tenant gone since answers like a revoked key.
    let row = row.ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))?;
    Ok((row.tenant.policy(), row.usage.usage()))
}
