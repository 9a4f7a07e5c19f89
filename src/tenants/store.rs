//! Tenant rows.

use crate::limits::period::DEFAULT_PERIOD_DAYS;
use crate::limits::{Policy, TokenLimit};
use crate::tenants::TenantId;
use sqlx::{AnyConnection, AnyExecutor, FromRow};

/// A row of `tenants`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TenantRecord {
    pub id: String,
    pub display_name: String,
    pub token_limit: Option<i64>,
    pub period_anchor: i64,
    pub period_days: i64,
    pub created_at: i64,
}

impl TenantRecord {
    pub fn token_limit(&self) -> Option<TokenLimit> {
        self.token_limit.and_then(|l| TokenLimit::new(u64::try_from(l).ok()?).ok())
    }

    pub fn period_days(&self) -> u32 {
        u32::try_from(self.period_days).unwrap_or(DEFAULT_PERIOD_DAYS)
    }

    /// How this tenant is limited.
    pub fn policy(&self) -> Policy {
        Policy { token_limit: self.token_limit(), period_anchor: self.period_anchor, period_days: self.period_days() }
    }
}

/// A new tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub display_name: String,
    pub token_limit: Option<TokenLimit>,
}

/// Inserts the tenant unless its id is taken; `true` when this call created it.
/// Its first budget period starts now.
pub async fn create(conn: &mut AnyConnection, tenant: &NewTenant, now: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO tenants (id, display_name, token_limit, period_anchor, period_days, created_at)
         VALUES ($1, $2, $3, $4, $5, $4)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(tenant.id.as_str())
    .bind(&tenant.display_name)
    .bind(tenant.token_limit.map(|l| l.get() as i64))
    .bind(now)
    .bind(i64::from(DEFAULT_PERIOD_DAYS))
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get<'c>(exec: impl AnyExecutor<'c>, id: &TenantId) -> Result<Option<TenantRecord>, sqlx::Error> {
    sqlx::query_as::<_, TenantRecord>("SELECT * FROM tenants WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(exec)
        .await
}

pub async fn list<'c>(exec: impl AnyExecutor<'c>) -> Result<Vec<TenantRecord>, sqlx::Error> {
    sqlx::query_as::<_, TenantRecord>("SELECT * FROM tenants ORDER BY id").fetch_all(exec).await
}

/// Sets (or with `None` clears) the tenant's token limit; `false` when there is no such tenant.
pub async fn set_token_limit<'c>(
    exec: impl AnyExecutor<'c>,
    id: &TenantId,
    token_limit: Option<TokenLimit>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("UPDATE tenants SET token_limit = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(token_limit.map(|l| l.get() as i64))
        .execute(exec)
        .await?;
    Ok(result.rows_affected() == 1)
}
