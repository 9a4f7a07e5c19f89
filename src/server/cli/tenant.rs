//! `tollgate tenant create|list|set-limit`.

use crate::audit::actors::CLI as CLI_ACTOR;
use crate::db::Db;
use crate::limits::{parse_optional_limit, TokenLimit};
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
    /// Set the tenant's LiteLLM virtual key (`none` removes it): saving its budget then updates
    /// the key through LiteLLM's `/key/update` first.
    SetLitellmKey { id: String, key: String },
}

pub async fn run(db: &Db, cmd: TenantCommand, now: i64) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Create { id, name, token_limit } => {
            let id = TenantId::parse(&id)?;
            let token_limit = parse_optional_limit(token_limit.as_deref().unwrap_or_default())?;
            let display_name = crate::validation::short_text("name", name.as_deref().unwrap_or(id.as_str()), 100)?;
            let mut tx = db.pool.begin().await?;
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
            let mut tx = db.pool.begin().await?;
            if !tenants::set_token_limit(&mut tx, &id, limit, CLI_ACTOR, now).await? {
                bail!("no tenant with id {id}");
            }
            tx.commit().await?;
            println!("tenant {id}: token limit {}", limit.map_or("No Limit".to_owned(), |l| l.to_string()));
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
