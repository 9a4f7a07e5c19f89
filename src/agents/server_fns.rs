//! Server functions about agents. Deploying and revoking are for system admins.

use super::DeployedAgent;
use crate::error::AppError;
use leptos::prelude::*;

/// Deploys an agent for a tenant, creating the tenant (with `token_limit`; empty means the
/// server's default limit, or No Limit without one) when it does not exist yet. Returns the agent's API key, which is shown only once.
#[server(prefix = "/api", endpoint = "deploy_agent")]
pub async fn deploy_agent(
    agent_name: String,
    tenant_id: String,
    token_limit: Option<String>,
) -> Result<DeployedAgent, AppError> {
    use crate::limits::parse_optional_limit;
    use crate::tenants::{store::NewTenant, TenantId};

    let state = crate::state::app_state()?;
    let admin = crate::auth::guard::require_system_admin(&state).await?;
    let id = TenantId::parse(&tenant_id)?;
    let agent_name = super::parse_agent_name(&agent_name)?;
    let token_limit = parse_optional_limit(token_limit.as_deref().unwrap_or_default())?;
    let tenant = NewTenant { display_name: id.to_string(), id, token_limit };
    let (defaults, now) = (&state.tenant_defaults, state.clock.now_ms());
    let deployed =
        super::store::deploy_with_defaults(&state.db, tenant, defaults, agent_name, &admin.username, now).await?;
    tracing::info!(by = %admin.username, tenant_id = %deployed.tenant_id, agent_id = deployed.agent_id,
        tenant_created = deployed.tenant_created, "agent deployed");
    Ok(deployed)
}

/// Revokes an agent's API key; its next request gets 401. `tenant_id` is where a plain form
/// post (no JavaScript) goes back to.
#[server(prefix = "/api", endpoint = "revoke_agent")]
pub async fn revoke_agent(agent_id: i64, tenant_id: Option<String>) -> Result<(), AppError> {
    let state = crate::state::app_state()?;
    let admin = crate::auth::guard::require_system_admin(&state).await?;
    let mut tx = state.db.begin_write().await?;
    if !super::store::revoke(&mut tx, agent_id, &admin.username, state.clock.now_ms()).await? {
        return Err(AppError::not_found(format!("No agent with id {agent_id}")));
    }
    tx.commit().await?;
    state.gate.agent_revoked(agent_id);
    tracing::info!(by = %admin.username, agent_id, "agent key revoked");
    let back = tenant_id.as_deref().and_then(|t| crate::tenants::TenantId::parse(t).ok());
    if let Some(tenant) = back {
        if crate::ui::submitted_without_javascript().await {
            leptos_axum::redirect(&format!("/tenants/{tenant}"));
        }
    }
    Ok(())
}
