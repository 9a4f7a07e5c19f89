//! `tollgate agent create`.

use crate::audit::actors::CLI as CLI_ACTOR;
use crate::db::Db;
use crate::tenants::store::{self as tenants, NewTenant};
use crate::tenants::TenantId;
use anyhow::bail;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent for an existing tenant and print its API key (shown only this once).
    Create { tenant_id: String, name: String },
}

pub async fn run(db: &Db, cmd: AgentCommand, now: i64) -> anyhow::Result<()> {
    let AgentCommand::Create { tenant_id, name } = cmd;
    let id = TenantId::parse(&tenant_id)?;
    let agent_name = crate::agents::parse_agent_name(&name)?;
    if tenants::get(&db.pool, &id).await?.is_none() {
        bail!("no tenant with id {id}; create it first with `tollgate tenant create {id}`");
    }
    let tenant = NewTenant { display_name: id.to_string(), id, token_limit: None };
    let agent = crate::agents::store::deploy(db, tenant, agent_name, CLI_ACTOR, now).await?;
    println!("agent {} created for tenant {}", agent.agent_id, agent.tenant_id);
    println!("API key (shown only now): {}", agent.api_key);
    Ok(())
}
