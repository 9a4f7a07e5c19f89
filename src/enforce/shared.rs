//! Shared (PostgreSQL) enforcement, exact across processes: admission is one conditional
//! `UPDATE` of the tenant's counter row (`… WHERE used + reserved + estimate <= limit`), which
//! PostgreSQL serialises on the row lock, so two processes can never both take the last
//! tokens. Reservations are rows; a report deletes its row and gives the tokens back in the
//! same transaction that counts its usage, and a sweeper releases expired rows.

use super::ledger::TenantSettings;
use super::{CheckOutcome, Principal};
use crate::agents::keys;
use crate::error::AppError;
use crate::limits::period::current_period;
use crate::limits::{admit, TokenLimit};
use crate::server::db::Db;
use sqlx::AnyConnection;
use std::collections::HashMap;

pub struct SharedEnforcer {
    pub db: Db,
    reservation_ttl_ms: i64,
}

impl SharedEnforcer {
    pub fn new(db: Db, reservation_ttl_ms: i64) -> Self {
        Self { db, reservation_ttl_ms }
    }

    /// Keys are looked up on every request, so a revocation by any process counts at once.
    pub async fn authenticate(&self, key: &str) -> Result<Option<Principal>, AppError> {
        Ok(crate::agents::store::find_by_key_hash(&self.db.pool, &keys::hash(key)).await?)
    }

    pub async fn settings(&self, tenant_id: &str) -> Result<TenantSettings, AppError> {
        settings(&mut *self.db.pool.acquire().await?, tenant_id).await
    }

    pub async fn check(&self, p: &Principal, estimated_tokens: u64, now: i64) -> Result<CheckOutcome, AppError> {
        let mut tx = self.db.pool.begin().await?;
        let settings = settings(&mut tx, &p.tenant_id).await?;
        let period = current_period(settings.period_anchor, settings.period_days, now);
        sqlx::query("INSERT INTO usage_counters (tenant_id, period_start) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&p.tenant_id)
            .bind(period.start)
            .execute(&mut *tx)
            .await?;
        let mut reservation = None;
        let (used, reserved, allowed) = match settings.token_limit {
            Some(limit) if estimated_tokens > 0 => {
                let taken: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE usage_counters SET reserved_tokens = reserved_tokens + $3
                     WHERE tenant_id = $1 AND period_start = $2
                       AND input_tokens + output_tokens + reserved_tokens + $3 <= $4
                     RETURNING input_tokens + output_tokens, reserved_tokens",
                )
                .bind(&p.tenant_id)
                .bind(period.start)
                .bind(estimated_tokens as i64)
                .bind(limit.get() as i64)
                .fetch_optional(&mut *tx)
                .await?;
                match taken {
                    Some((used, reserved)) => {
                        let id = super::reservation_text(super::new_reservation_number());
                        let expires_at = now + self.reservation_ttl_ms;
                        sqlx::query(
                            "INSERT INTO reservations (id, tenant_id, period_start, tokens, expires_at)
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(&id)
                        .bind(&p.tenant_id)
                        .bind(period.start)
                        .bind(estimated_tokens as i64)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await?;
                        reservation = Some((id, expires_at));
                        (used, reserved, true)
                    }
                    None => {
                        let (used, reserved) = counter(&mut tx, &p.tenant_id, period.start).await?;
                        (used, reserved, false)
                    }
                }
            }
            limit => {
                let (used, reserved) = counter(&mut tx, &p.tenant_id, period.start).await?;
                (used, reserved, admit(used.max(0) as u64, reserved.max(0) as u64, 0, limit))
            }
        };
        tx.commit().await?;
        Ok(CheckOutcome {
            allowed,
            tenant_id: p.tenant_id.clone(),
            used_tokens: used.max(0) as u64,
            reserved_tokens: reserved.max(0) as u64,
            token_limit: settings.token_limit,
            period,
            reservation,
            now,
        })
    }

    /// Releases reservations that expired at or before `now`.
    pub async fn sweep(&self, now: i64) -> Result<(), AppError> {
        let mut tx = self.db.pool.begin().await?;
        let expired: Vec<(String, i64, i64)> =
            sqlx::query_as("DELETE FROM reservations WHERE expires_at <= $1 RETURNING tenant_id, period_start, tokens")
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
        let mut sums: HashMap<(String, i64), i64> = HashMap::new();
        for (tenant_id, period_start, tokens) in expired {
            *sums.entry((tenant_id, period_start)).or_default() += tokens;
        }
        let mut groups: Vec<_> = sums.into_iter().collect();
        groups.sort();
        for ((tenant_id, period_start), tokens) in groups {
            give_back(&mut tx, &tenant_id, period_start, tokens).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Settles a reservation inside the writer's transaction: deletes it and gives its tokens back.
pub async fn settle(conn: &mut AnyConnection, tenant_id: &str, reservation_id: &str) -> Result<(), sqlx::Error> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("DELETE FROM reservations WHERE id = $1 AND tenant_id = $2 RETURNING period_start, tokens")
            .bind(reservation_id)
            .bind(tenant_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((period_start, tokens)) = row {
        give_back(conn, tenant_id, period_start, tokens).await?;
    }
    Ok(())
}

async fn give_back(
    conn: &mut AnyConnection,
    tenant_id: &str,
    period_start: i64,
    tokens: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE usage_counters SET reserved_tokens = reserved_tokens - $3 WHERE tenant_id = $1 AND period_start = $2",
    )
    .bind(tenant_id)
    .bind(period_start)
    .bind(tokens)
    .execute(conn)
    .await?;
    Ok(())
}

async fn counter(conn: &mut AnyConnection, tenant_id: &str, period_start: i64) -> Result<(i64, i64), sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT input_tokens + output_tokens, reserved_tokens FROM usage_counters WHERE tenant_id = $1 AND period_start = $2",
    )
    .bind(tenant_id)
    .bind(period_start)
    .fetch_optional(conn)
    .await?;
    Ok(row.unwrap_or((0, 0)))
}

async fn settings(conn: &mut AnyConnection, tenant_id: &str) -> Result<TenantSettings, AppError> {
    let row: Option<(Option<i64>, i64, i64)> =
        sqlx::query_as("SELECT token_limit, period_anchor, period_days FROM tenants WHERE id = $1")
            .bind(tenant_id)
            .fetch_optional(conn)
            .await?;
    let (limit, period_anchor, period_days) =
        row.ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))?;
    Ok(TenantSettings {
        token_limit: limit.and_then(|l| TokenLimit::new(u64::try_from(l).ok()?).ok()),
        period_anchor,
        period_days: u32::try_from(period_days).unwrap_or(crate::limits::period::DEFAULT_PERIOD_DAYS),
    })
}
