//! `tollgate tenant create|list|set-limit|set-budget-ceiling|set-litellm-key|set-user-limit|set-mode`.

use crate::audit::actors::CLI as CLI_ACTOR;
use crate::db::Db;
use crate::limits::{parse_optional_limit, EnforcementMode, TokenLimit};
use crate::overrides::parse_user_id;
use crate::overrides::store::{self as overrides, SetKind, SetOutcome};
use crate::tenants::store::{self as tenants, NewTenant};
use crate::tenants::TenantId;
use anyhow::bail;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        id: String,
        /// Display name (defaults to the id).
        #[arg(long)]
        name: Option<String>,
        /// Tokens per budget period; omit for No Limit.
        #[arg(long)]
        token_limit: Option<String>,
    },
    /// List tenants with their limits.
    List,
    /// Set a tenant's token limit; `none` removes it.
    SetLimit { id: String, token_limit: String },
    /// Set the highest block amount (max budget × grace %, in dollars) the tenant's admins may
    /// save for its budget; while it is set they may not remove the budget. `none` removes it.
    SetBudgetCeiling { id: String, max_usd: String },
    /// Set the tenant's LiteLLM virtual key (`none` removes it): saving its budget then updates
    /// the key through LiteLLM's `/key/update` first.
    SetLitellmKey { id: String, key: String },
    /// Give one of the tenant's users a token limit of their own (`none` removes it). The user
    /// is then held to it and to the tenant's limits; users without one share the tenant's.
    SetUserLimit { id: String, user_id: String, token_limit: String },
    /// Set the tenant's enforcement mode: off, monitor, enforce, or `default` (the server's).
    SetMode { id: String, mode: String },
}

pub async fn run(db: &Db, cmd: TenantCommand, now: i64) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Create { id, name, token_limit } => {
            let id = TenantId::parse(&id)?;
            let token_limit = parse_optional_limit(token_limit.as_deref().unwrap_or_default())?;
            let display_name = crate::validation::short_text("name", name.as_deref().unwrap_or(id.as_str()), 100)?;
            let mut tx = db.begin_write().await?;
            let tenant = NewTenant { id: id.clone(), display_name, token_limit };
            if !tenants::create(&mut tx, &tenant, CLI_ACTOR, now).await? {
                bail!("tenant {id} already exists");
            }
            tx.commit().await?;
            println!("tenant {id} created");
        }
        TenantCommand::List => {
            println!("{:<32} {:<32} {:>18}", "TENANT", "NAME", "TOKEN LIMIT");
            for t in tenants::list(&db.pool).await? {
                let limit = t.token_limit().map_or("No Limit".to_owned(), |l| l.to_string());
                println!("{:<32} {:<32} {:>18}", t.id, t.display_name, limit);
            }
        }
        TenantCommand::SetLimit { id, token_limit } => {
            let id = TenantId::parse(&id)?;
            let limit = if token_limit.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(TokenLimit::parse(&token_limit)?)
            };
            let mut tx = db.begin_write().await?;
            if !tenants::set_token_limit(&mut tx, &id, limit, CLI_ACTOR, now).await? {
                bail!("no tenant with id {id}");
            }
            tx.commit().await?;
            println!("tenant {id}: token limit {}", limit.map_or("No Limit".to_owned(), |l| l.to_string()));
        }
        TenantCommand::SetBudgetCeiling { id, max_usd } => {
            let id = TenantId::parse(&id)?;
            let ceiling = match max_usd.trim() {
                none if none.eq_ignore_ascii_case("none") => None,
                text => Some(crate::budgets::rules::parse_usd("max_usd", text)?),
            };
            let mut tx = db.begin_write().await?;
            if !tenants::set_budget_ceiling(&mut tx, &id, ceiling, CLI_ACTOR, now).await? {
                bail!("no tenant with id {id}");
            }
            tx.commit().await?;
            let shown = ceiling.map_or("none".to_owned(), crate::format::format_usd);
            println!("tenant {id}: budget ceiling {shown}");
        }
        TenantCommand::SetUserLimit { id, user_id, token_limit } => {
            let id = TenantId::parse(&id)?;
            let user_id = parse_user_id("user_id", &user_id)?;
            let mut tx = db.begin_write().await?;
            if token_limit.trim().eq_ignore_ascii_case("none") {
                let removed = overrides::remove(&mut tx, &id, &user_id, CLI_ACTOR, now).await?;
                tx.commit().await?;
                println!(
                    "tenant {id}, user {user_id}: {}",
                    if removed { "override removed" } else { "had no override" }
                );
            } else {
                let limit = TokenLimit::parse(&token_limit)?;
                match overrides::set(&mut tx, &id, &user_id, limit, SetKind::CreateOrChange, CLI_ACTOR, now).await? {
                    SetOutcome::NoSuchTenant => bail!("no tenant with id {id}"),
                    SetOutcome::TooMany => bail!("{}", crate::limits::manage::too_many_overrides(&id)),
                    _ => {}
                }
                tx.commit().await?;
                println!("tenant {id}, user {user_id}: token limit {limit}");
            }
        }
        TenantCommand::SetMode { id, mode } => {
            let id = TenantId::parse(&id)?;
            let mode = EnforcementMode::parse_setting("mode", &mode)?;
            let mut tx = db.begin_write().await?;
            if !tenants::set_enforcement_mode(&mut tx, &id, mode, CLI_ACTOR, now).await? {
                bail!("no tenant with id {id}");
            }
            tx.commit().await?;
            println!("tenant {id}: enforcement mode {}", mode.map_or("default", EnforcementMode::as_str));
        }
        TenantCommand::SetLitellmKey { id, key } => {
            let id = TenantId::parse(&id)?;
            let key = key.trim();
            let key = (!key.eq_ignore_ascii_case("none"))
                .then(|| crate::validation::short_text("key", key, 200))
                .transpose()?;
            if !tenants::set_litellm_key(&db.pool, &id, key.as_deref()).await? {
                bail!("no tenant with id {id}");
            }
            println!("tenant {id}: LiteLLM key {}", if key.is_some() { "set" } else { "removed" });
        }
    }
    Ok(())
}
