//! Applies validated seeds in one transaction: each setting is compared with the database and
//! written only when it differs (so a second run changes nothing), through the same store
//! functions as the console, each change audited. A dry run does the same and rolls back, so
//! what it reports is exactly what a real run would do.

use super::file::TenantSeed;
use crate::db::Db;
use crate::limits::EnforcementMode;
use crate::overrides::store::{self as overrides, SetKind, SetOutcome};
use crate::tenants::store::{self as tenants, NewTenant};
use sqlx::AnyConnection;
use std::fmt;

/// One setting the run changed (or, in a dry run, would change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedChange {
    pub tenant_id: String,
    pub what: String,
    pub from: String,
    pub to: String,
}

impl fmt::Display for SeedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {} -> {}", self.tenant_id, self.what, self.from, self.to)
    }
}

fn limit_text(limit: Option<i64>) -> String {
    limit.map_or("No Limit".to_owned(), |l| l.to_string())
}

/// An override as the change list prints it.
fn override_text(limit: Option<i64>) -> String {
    limit.map_or("(none)".to_owned(), |l| l.to_string())
}

fn mode_text(mode: Option<&str>) -> String {
    mode.unwrap_or("default").to_owned()
}

/// Applies `seeds` as `actor`; with `dry_run` nothing is kept. Returns every change.
pub async fn apply(
    db: &Db,
    seeds: &[TenantSeed],
    actor: &str,
    now: i64,
    dry_run: bool,
) -> Result<Vec<SeedChange>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut changes = Vec::new();
    for seed in seeds {
        apply_one(&mut tx, seed, actor, now, &mut changes).await?;
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(changes)
}

async fn apply_one(
    conn: &mut AnyConnection,
    seed: &TenantSeed,
    actor: &str,
    now: i64,
    changes: &mut Vec<SeedChange>,
) -> Result<(), sqlx::Error> {
    let id = &seed.id;
    let mut change = |what: &str, from: String, to: String| {
        changes.push(SeedChange { tenant_id: id.to_string(), what: what.to_owned(), from, to });
    };
    let before = match tenants::get(&mut *conn, id).await? {
        Some(t) => t,
        None => {
            let display_name = seed.display_name.clone().unwrap_or_else(|| id.to_string());
            let token_limit = seed.token_limit.flatten();
            tenants::create(conn, &NewTenant { id: id.clone(), display_name, token_limit }, actor, now).await?;
            change("tenant", "(none)".into(), "created".into());
            if token_limit.is_some() {
                change("token_limit", limit_text(None), limit_text(token_limit.map(|l| l.get() as i64)));
            }
            tenants::get(&mut *conn, id).await?.ok_or(sqlx::Error::RowNotFound)?
        }
    };
    if let Some(limit) = seed.token_limit {
        let wanted = limit.map(|l| l.get() as i64);
        if before.token_limit != wanted {
            tenants::set_token_limit(conn, id, limit, actor, now).await?;
            change("token_limit", limit_text(before.token_limit), limit_text(wanted));
        }
    }
    if let Some(mode) = seed.mode {
        let wanted = mode.map(EnforcementMode::as_str);
        if before.enforcement_mode.as_deref() != wanted {
            tenants::set_enforcement_mode(conn, id, mode, actor, now).await?;
            change("mode", mode_text(before.enforcement_mode.as_deref()), mode_text(wanted));
        }
    }
    if let Some(budget) = seed.budget {
        if before.budget() != budget {
            tenants::set_budget(conn, id, budget.as_ref(), actor, now).await?;
            let text = |b: Option<crate::budgets::BudgetConfig>| {
                b.map_or("no budget".to_owned(), |b| {
                    format!(
                        "{} ({}%/{}%, {})",
                        crate::format::format_usd(b.max_budget_micros),
                        b.alert_threshold_pct,
                        b.grace_threshold_pct,
                        b.budget_duration.as_str()
                    )
                })
            };
            change("budget", text(before.budget()), text(budget));
        }
    }
    for (user_id, limit) in &seed.users {
        let what = format!("user {user_id} token_limit");
        match limit {
            Some(limit) => {
                match overrides::set(conn, id, user_id, *limit, SetKind::CreateOrChange, actor, now).await? {
                    SetOutcome::Set { before } if before != Some(limit.get() as i64) => {
                        change(&what, override_text(before), limit.to_string());
                    }
                    // The whole run fails (one transaction): the file asks for more than a tenant may have.
                    SetOutcome::TooMany => {
                        return Err(sqlx::Error::InvalidArgument(
                            crate::limits::manage::too_many_overrides(id).to_string(),
                        ))
                    }
                    _ => {}
                }
            }
            None => {
                let current = overrides::limit_of(&mut *conn, id, user_id).await?;
                if overrides::remove(conn, id, user_id, actor, now).await? {
                    change(&what, override_text(current), override_text(None));
                }
            }
        }
    }
    Ok(())
}
