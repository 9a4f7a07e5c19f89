//! Tenant rows.

use crate::audit::store::{self as audit, Change};
use crate::audit::AuditAction;
use crate::budgets::rules::BudgetConfig;
use crate::limits::period::{Schedule, DEFAULT_PERIOD_DAYS};
use crate::limits::{EnforcementMode, Policy, TokenLimit};
use crate::tenants::TenantId;
use serde_json::json;
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
    /// `None`: no budget. The budget's duration is `period_days`.
    pub max_budget_micros: Option<i64>,
    pub alert_threshold_pct: i64,
    pub grace_threshold_pct: i64,
    /// The tenant's LiteLLM virtual key, kept in step with its budget when LiteLLM is configured.
    pub litellm_key: Option<String>,
    /// `off`, `monitor` or `enforce`; `None`: the server's default mode.
    pub enforcement_mode: Option<String>,
    /// A duration saved mid-period: periods of this many days begin at `next_period_from`.
    pub next_period_days: Option<i64>,
    pub next_period_from: Option<i64>,
    /// The highest block amount a tenant admin may save (set by system admins); `None`: no ceiling.
    pub budget_ceiling_micros: Option<i64>,
}

impl TenantRecord {
    pub fn token_limit(&self) -> Option<TokenLimit> {
        self.token_limit.and_then(|l| TokenLimit::new(u64::try_from(l).ok()?).ok())
    }

    /// The tenant's periods, with any duration change that is scheduled.
    pub fn schedule(&self) -> Schedule {
        Schedule::from_stored(self.period_anchor, self.period_days, self.next_period_days, self.next_period_from)
    }

    /// The budget as configured; its duration is the one last saved, even while the current
    /// period still runs at the old one.
    pub fn budget(&self) -> Option<BudgetConfig> {
        BudgetConfig::from_stored(
            self.max_budget_micros,
            self.alert_threshold_pct,
            self.grace_threshold_pct,
            i64::from(self.schedule().configured_days()),
        )
    }

    /// How this tenant is limited.
    pub fn policy(&self) -> Policy {
        Policy {
            token_limit: self.token_limit(),
            budget: self.budget(),
            period: self.schedule(),
            mode: EnforcementMode::from_stored(self.enforcement_mode.as_deref()),
        }
    }
}

/// What a tenant created from the console starts with when the admin sets nothing
/// (`--default-token-limit`, `--default-max-budget`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantDefaults {
    pub token_limit: Option<TokenLimit>,
    pub budget: Option<BudgetConfig>,
}

/// A new tenant.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub display_name: String,
    pub token_limit: Option<TokenLimit>,
}

/// Inserts the tenant unless its id is taken, recording who created it; `true` when this call
/// created it. Its first budget period starts now.
pub async fn create(conn: &mut AnyConnection, tenant: &NewTenant, actor: &str, now: i64) -> Result<bool, sqlx::Error> {
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
    .execute(&mut *conn)
    .await?;
    let created = result.rows_affected() == 1;
    if created {
        let new_value =
            json!({"display_name": tenant.display_name, "token_limit": tenant.token_limit.map(TokenLimit::get)});
        let change = Change {
            actor,
            tenant_id: Some(tenant.id.as_str()),
            action: AuditAction::TenantCreated,
            old_value: None,
            new_value: Some(new_value),
            at: now,
        };
        audit::record(conn, change).await?;
    }
    Ok(created)
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

/// Sets (or with `None` clears) the tenant's token limit in the caller's transaction and
/// records the change; `false` when there is no such tenant.
pub async fn set_token_limit(
    conn: &mut AnyConnection,
    id: &TenantId,
    token_limit: Option<TokenLimit>,
    actor: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(before) = get(&mut *conn, id).await? else { return Ok(false) };
    sqlx::query("UPDATE tenants SET token_limit = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(token_limit.map(|l| l.get() as i64))
        .execute(&mut *conn)
        .await?;
    let change = Change {
        actor,
        tenant_id: Some(id.as_str()),
        action: AuditAction::TokenLimitChanged,
        old_value: Some(json!({"token_limit": before.token_limit})),
        new_value: Some(json!({"token_limit": token_limit.map(TokenLimit::get)})),
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(true)
}

/// Sets the tenant's enforcement mode (`None`: follow the server's default) in the caller's
/// transaction and records the change; `false` when there is no such tenant.
pub async fn set_enforcement_mode(
    conn: &mut AnyConnection,
    id: &TenantId,
    mode: Option<EnforcementMode>,
    actor: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(before) = get(&mut *conn, id).await? else { return Ok(false) };
    let mode = mode.map(EnforcementMode::as_str);
    if before.enforcement_mode.as_deref() == mode {
        return Ok(true);
    }
    sqlx::query("UPDATE tenants SET enforcement_mode = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(mode)
        .execute(&mut *conn)
        .await?;
    let change = Change {
        actor,
        tenant_id: Some(id.as_str()),
        action: AuditAction::EnforcementModeChanged,
        old_value: Some(json!({"enforcement_mode": before.enforcement_mode})),
        new_value: Some(json!({"enforcement_mode": mode})),
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(true)
}

/// Sets (or with `None` removes) the tenant's LiteLLM virtual key; `false`: no such tenant.
pub async fn set_litellm_key<'c>(
    exec: impl AnyExecutor<'c>,
    id: &TenantId,
    key: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("UPDATE tenants SET litellm_key = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(key)
        .execute(exec)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Sets (or with `None` removes) a tenant's budget in the caller's transaction, records the
/// change, and returns the row as it was, or `None` when there is no such tenant. A new
/// duration takes effect at the current period's reset (`Schedule::with_days`): the current
/// period, and what it has counted, are never cut short by a save.
pub async fn set_budget(
    conn: &mut AnyConnection,
    id: &TenantId,
    budget: Option<&BudgetConfig>,
    actor: &str,
    now: i64,
) -> Result<Option<TenantRecord>, sqlx::Error> {
    let Some(before) = get(&mut *conn, id).await? else { return Ok(None) };
    let schedule = match budget {
        Some(b) => before.schedule().with_days(b.budget_duration.days(), now),
        None => before.schedule(),
    };
    let next = schedule.next;
    sqlx::query(
        "UPDATE tenants SET max_budget_micros = $2, alert_threshold_pct = $3, grace_threshold_pct = $4,
                            period_anchor = $5, period_days = $6, next_period_days = $7, next_period_from = $8
         WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(budget.map(|b| b.max_budget_micros))
    .bind(budget.map_or(before.alert_threshold_pct, |b| i64::from(b.alert_threshold_pct)))
    .bind(budget.map_or(before.grace_threshold_pct, |b| i64::from(b.grace_threshold_pct)))
    .bind(schedule.anchor)
    .bind(i64::from(schedule.days))
    .bind(next.map(|n| i64::from(n.days)))
    .bind(next.map(|n| n.from))
    .execute(&mut *conn)
    .await?;
    let change = Change {
        actor,
        tenant_id: Some(id.as_str()),
        action: AuditAction::BudgetConfigUpdated,
        old_value: before.budget().as_ref().map(budget_json),
        new_value: budget.map(budget_json),
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(Some(before))
}

/// Sets (or with `None` removes) the ceiling on the block amount tenant admins may save, in
/// the caller's transaction, and records the change; `false` when there is no such tenant.
pub async fn set_budget_ceiling(
    conn: &mut AnyConnection,
    id: &TenantId,
    ceiling_micros: Option<i64>,
    actor: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let Some(before) = get(&mut *conn, id).await? else { return Ok(false) };
    if before.budget_ceiling_micros == ceiling_micros {
        return Ok(true);
    }
    sqlx::query("UPDATE tenants SET budget_ceiling_micros = $2 WHERE id = $1")
        .bind(id.as_str())
        .bind(ceiling_micros)
        .execute(&mut *conn)
        .await?;
    let usd = |m: Option<i64>| m.map(crate::usage::report::micros_to_usd);
    let change = Change {
        actor,
        tenant_id: Some(id.as_str()),
        action: AuditAction::BudgetCeilingChanged,
        old_value: Some(json!({"budget_ceiling_usd": usd(before.budget_ceiling_micros)})),
        new_value: Some(json!({"budget_ceiling_usd": usd(ceiling_micros)})),
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(true)
}

/// A budget as the audit log records it.
fn budget_json(b: &BudgetConfig) -> serde_json::Value {
    json!({
        "max_budget_usd": crate::usage::report::micros_to_usd(b.max_budget_micros),
        "alert_threshold_pct": b.alert_threshold_pct,
        "grace_threshold_pct": b.grace_threshold_pct,
        "budget_duration": b.budget_duration.as_str(),
    })
}
