//! Demo data for `make run`: tenants at about 30 %, 85 % and 105 % of their token limits, one
//! without a limit; budgets in each state (ok, alert, grace, blocked), one with twelve days of
//! spend history and one started today; each with an agent and usage spread over its period.
//! Usage is recorded through the same store function as real reports, one report at a time,
//! so alerts fire when the spend crosses them.

use crate::agents::DeployedAgent;
use crate::auth::Role;
use crate::budgets::rules::{
    BudgetConfig, BudgetDuration, DEFAULT_ALERT_THRESHOLD_PCT, DEFAULT_GRACE_THRESHOLD_PCT, MICROS_PER_USD,
};
use crate::db::Db;
use crate::error::AppError;
use crate::limits::period::DAY_MS;
use crate::limits::TokenLimit;
use crate::tenants::store::{self as tenants, NewTenant};
use crate::tenants::TenantId;
use crate::usage::batch::NewEvent;
use crate::usage::pricing::{CostSource, PriceBook};
use crate::usage::report::UsageReport;
use crate::usage::store::record_batch;
use crate::usage::tokens::TokenUsage;

/// (id, display name, token limit, tokens used this period, model)
const DEMO: &[(&str, &str, Option<u64>, i64, &str)] = &[
    ("acme", "Acme Corp", Some(100_000), 30_000, "gpt-4o"),
    ("globex", "Globex", Some(200_000), 170_000, "claude-sonnet-4"),
    ("initech", "Initech", Some(50_000), 52_500, "gpt-4o-mini"),
    ("umbrella", "Umbrella Research", None, 1_240_000, "claude-opus-4"),
    ("hooli", "Hooli", Some(1_000_000), 52_000, "gpt-4.1"),
    ("stark", "Stark Industries", Some(500_000), 412_000, "gpt-4.1-mini"),
];

/// (tenant, max budget USD, USD spent this period, days since the period began). The agents
/// report `cost_usd`, spread evenly over the period so far.
const DEMO_BUDGETS: &[(&str, i64, i64, i64)] = &[
    ("acme", 500, 210, 12),    // 42 %: ok, twelve days of history for the chart
    ("globex", 1_000, 850, 9), // 85 %: alert
    ("initech", 200, 208, 20), // 104 %: grace period
    ("stark", 300, 345, 15),   // 115 %: blocked
    ("hooli", 2_000, 40, 0),   // 2 %: started today, too new for a chart
];
const EVENTS_PER_TENANT: i64 = 20;
const HOUR_MS: i64 = 3_600_000;
use crate::audit::actors::DEMO as DEMO_ACTOR;

/// Demo sign-ins (user name, password, the tenant of a tenant admin), printed by
/// `tollgate serve --demo`. They exist only in a database loaded with `demo`; never load it
/// into a real deployment.
pub const USERS: [(&str, &str, Option<&str>); 2] =
    [("admin", "tollgate-demo-admin", None), ("acme-admin", "tollgate-demo-acme", Some("acme"))];

/// The role of a demo user.
pub fn role_of(tenant: Option<&str>) -> Role {
    match tenant {
        None => Role::SystemAdmin,
        Some(tenant_id) => Role::TenantAdmin { tenant_id: tenant_id.to_owned() },
    }
}

/// Creates each demo tenant that does not exist yet; returns the agents it deployed.
pub async fn load(db: &Db, now: i64) -> Result<Vec<DeployedAgent>, AppError> {
    let prices = crate::usage::price_db::Prices::default();
    let mut deployed = Vec::new();
    for &(id, name, limit, used, model) in DEMO {
        let id = TenantId::parse(id)?;
        if tenants::get(&db.pool, &id).await?.is_some() {
            continue;
        }
        let tenant = NewTenant {
            id: id.clone(),
            display_name: name.to_owned(),
            token_limit: limit.map(TokenLimit::new).transpose()?,
        };
        let budget = DEMO_BUDGETS.iter().find(|b| b.0 == id.as_str());
        // A tenant with a budget was created on its period's first day (periods are anchored
        // when a tenant is created), so its spend so far lies in the current period.
        let began = match budget {
            Some(&(_, _, _, days)) => now - days * DAY_MS - HOUR_MS,
            None => now - EVENTS_PER_TENANT * 60_000 - 60_000,
        };
        let created = if budget.is_some() { began } else { now };
        let agent = crate::agents::store::deploy(db, tenant, "demo-agent".to_owned(), DEMO_ACTOR, created).await?;
        let (budget, spend_micros) = match budget {
            Some(&(_, max_usd, spend_usd, _)) => {
                let config = BudgetConfig {
                    max_budget_micros: max_usd * MICROS_PER_USD,
                    alert_threshold_pct: DEFAULT_ALERT_THRESHOLD_PCT,
                    grace_threshold_pct: DEFAULT_GRACE_THRESHOLD_PCT,
                    budget_duration: BudgetDuration::Days30,
                };
                let mut conn = db.pool.acquire().await?;
                tenants::set_budget(&mut conn, &id, Some(&config), DEMO_ACTOR, began).await?;
                (Some(config), spend_usd * MICROS_PER_USD)
            }
            None => (None, 0),
        };
        let record = tenants::get(&db.pool, &id).await?.ok_or_else(AppError::internal)?;
        let period = record.policy().period_at(now);
        for i in 0..EVENTS_PER_TENANT {
            // Split `used` into equal calls, 60 % input and 40 % output.
            let tokens = used / EVENTS_PER_TENANT + i64::from(i < used % EVENTS_PER_TENANT);
            // Half the prompt read from the provider's cache, as agents' prompts mostly are.
            let input_tokens = tokens * 6 / 10;
            let usage = TokenUsage {
                cache_read_tokens: input_tokens / 2,
                ..TokenUsage::plain(input_tokens, tokens - input_tokens)
            };
            let (cost_micros, cost_source) = match budget {
                Some(_) => (share(spend_micros, i), CostSource::Reported),
                None => prices.cost_micros(model, None, &usage, now),
            };
            let report = UsageReport {
                event_id: format!("demo-{id}-{i}"),
                model: model.to_owned(),
                usage,
                user_id: Some(format!("user-{}", i % 3)),
                cost_micros,
                cost_source,
                reservation_id: None,
            };
            let event = NewEvent {
                tenant_id: id.clone(),
                agent_id: agent.agent_id,
                report,
                // Evenly from the period's start to a minute ago.
                occurred_at: began + (now - 60_000 - began) * (i + 1) / EVENTS_PER_TENANT,
                period_start: period.start,
                resets_at: period.resets_at,
                token_limit: limit,
                budget,
            };
            let mut tx = db.pool.begin().await?;
            record_batch(&mut tx, std::slice::from_ref(&event)).await?;
            tx.commit().await?;
        }
        deployed.push(agent);
    }
    for (username, password, tenant) in USERS {
        let role = role_of(tenant);
        let hash = crate::auth::password::hash(password.to_owned()).await?;
        let mut tx = db.pool.begin().await?;
        crate::auth::store::create(&mut tx, username, &hash, &role, DEMO_ACTOR, now).await?;
        tx.commit().await?;
    }
    Ok(deployed)
}

/// Event `i`'s share of `total`, so the shares add up to exactly `total`.
fn share(total: i64, i: i64) -> i64 {
    total / EVENTS_PER_TENANT + i64::from(i < total % EVENTS_PER_TENANT)
}

/// Prints the demo agents' keys (when this start created them) and the demo sign-ins.
pub fn print_sign_ins(created: &[DeployedAgent]) {
    if created.is_empty() {
        println!("demo data already present");
    }
    for agent in created {
        println!("demo tenant {:<10} agent key {}", agent.tenant_id, agent.api_key);
    }
    for (username, password, tenant) in USERS {
        println!("demo sign-in: {username} / {password}  ({})", role_of(tenant).label());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_model_has_a_price() {
        // The demo must not show its tenants as "recorded at $0" for want of a price.
        let prices = crate::usage::price_db::Prices::default();
        for &(id, _, _, _, model) in DEMO {
            let (cost, source) = prices.cost_micros(model, None, &TokenUsage::plain(1_000, 1_000), 1_768_435_200_000);
            assert_eq!(source, CostSource::GenaiPrices, "{id}: {model}");
            assert!(cost > 0, "{id}: {model}");
        }
    }
}
