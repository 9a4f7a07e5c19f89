//! Shared (PostgreSQL) enforcement, exact across processes: admission is one conditional
//! `UPDATE` of the tenant's counter row (`… WHERE used + reserved + estimate <= limit`), which
//! PostgreSQL serialises on the row lock, so two processes can never both take the last
//! tokens. Reservations are rows; a report deletes its row and gives the tokens back in the
//! same transaction that counts its usage, and a sweeper releases expired rows.

use super::ledger::TenantSettings;
use super::{CheckOutcome, Principal};
use crate::agents::keys;
use crate::error::AppError;
use crate::limits::admit;
use crate::limits::period::current_period;
use crate::server::db::Db;
use crate::tenants::store::TenantRecord;
use crate::tenants::TenantId;
use crate::usage::store::CURRENT_PERIOD_START;
use sqlx::{AnyConnection, AssertSqlSafe};
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
        let gone = || AppError::unauthorized("Invalid or revoked API key");
        let id = TenantId::parse(tenant_id).map_err(|_| gone())?;
        let tenant = crate::tenants::store::get(&self.db.pool, &id).await?.ok_or_else(gone)?;
        Ok(TenantSettings::from(&tenant))
    }

    pub async fn check(&self, p: &Principal, estimated_tokens: u64, now: i64) -> Result<CheckOutcome, AppError> {
        let outcome = |s: &TenantSettings, used: i64, reserved: i64, allowed, reservation| CheckOutcome {
            allowed,
            tenant_id: p.tenant_id.clone(),
            used_tokens: used.max(0) as u64,
            reserved_tokens: reserved.max(0) as u64,
            token_limit: s.token_limit,
            period: current_period(s.period_anchor, s.period_days, now),
            reservation,
            now,
        };
        // A plain check (or no limit) only reads: one query, no transaction.
        let (settings, used, reserved) = read(&self.db.pool, &p.tenant_id, now).await?;
        let limit = match settings.token_limit {
            Some(limit) if estimated_tokens > 0 => limit,
            limit => {
                let allowed = admit(used.max(0) as u64, reserved.max(0) as u64, 0, limit);
                return Ok(outcome(&settings, used, reserved, allowed, None));
            }
        };
        // Reserving: the conditional update decides, atomically on the counter row.
        let period = current_period(settings.period_anchor, settings.period_days, now);
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("INSERT INTO usage_counters (tenant_id, period_start) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(&p.tenant_id)
            .bind(period.start)
            .execute(&mut *tx)
            .await?;
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
        let Some((used, reserved)) = taken else {
            tx.commit().await?;
            return Ok(outcome(&settings, used, reserved, false, None));
        };
        let id = super::reservation_text(super::new_reservation_number());
        let expires_at = now + self.reservation_ttl_ms;
        sqlx::query(
            "INSERT INTO reservations (id, tenant_id, period_start, tokens, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&p.tenant_id)
        .bind(period.start)
        .bind(estimated_tokens as i64)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(outcome(&settings, used, reserved, true, Some((id, expires_at))))
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

/// The tenant's settings and its current period's used and reserved tokens, in one query.
async fn read(pool: &sqlx::AnyPool, tenant_id: &str, now: i64) -> Result<(TenantSettings, i64, i64), AppError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        tenant: TenantRecord,
        used_tokens: i64,
        reserved_tokens: i64,
    }
    let sql = format!(
        "SELECT t.*, COALESCE(c.input_tokens + c.output_tokens, 0) AS used_tokens,
                COALESCE(c.reserved_tokens, 0) AS reserved_tokens
         FROM tenants t LEFT JOIN usage_counters c ON c.tenant_id = t.id AND c.period_start = {CURRENT_PERIOD_START}
         WHERE t.id = $2"
    );
    let row = sqlx::query_as::<_, Row>(AssertSqlSafe(sql)).bind(now).bind(tenant_id).fetch_optional(pool).await?;
    let row = row.ok_or_else(|| AppError::unauthorized("Invalid or revoked API key"))?;
    Ok((TenantSettings::from(&row.tenant), row.used_tokens, row.reserved_tokens))
}
