//! Agent rows, and the deploy transaction that may create the agent's tenant with it.

use super::keys;
use super::{AgentSummary, DeployedAgent, Principal};
use crate::audit::store::{self as audit, Change};
use crate::audit::AuditAction;
use crate::db::Db;
use crate::error::AppError;
use crate::tenants::id::TenantId;
use crate::tenants::store::{self as tenants, NewTenant, TenantDefaults};
use serde_json::json;
use sqlx::{AnyConnection, AnyExecutor, FromRow};

/// Finds the live (not revoked) agent holding this key hash.
pub async fn find_by_key_hash<'c>(
    exec: impl AnyExecutor<'c>,
    key_hash: &str,
) -> Result<Option<Principal>, sqlx::Error> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, tenant_id FROM agents WHERE api_key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(exec)
            .await?;
    let Some((agent_id, tenant_id)) = row else { return Ok(None) };
    // Ids are checked when tenants are created; one that fails now is corrupt data.
    let tenant_id = TenantId::parse(&tenant_id).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
    Ok(Some(Principal { agent_id, tenant_id }))
}

#[derive(FromRow)]
struct AgentRow {
    id: i64,
    name: String,
    api_key_prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

/// The tenant's agents, newest first.
pub async fn list_for_tenant<'c>(
    exec: impl AnyExecutor<'c>,
    tenant_id: &TenantId,
) -> Result<Vec<AgentSummary>, sqlx::Error> {
    let rows = sqlx::query_as::<_, AgentRow>(
        "SELECT id, name, api_key_prefix, created_at, revoked_at FROM agents WHERE tenant_id = $1 ORDER BY id DESC",
    )
    .bind(tenant_id.as_str())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AgentSummary {
            agent_id: r.id,
            name: r.name,
            api_key_prefix: r.api_key_prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes an agent's key (keeping the first revocation time) in the caller's transaction and
/// records it; `false` if there is no such agent. The next request with the key is refused.
pub async fn revoke(conn: &mut AnyConnection, agent_id: i64, actor: &str, now: i64) -> Result<bool, sqlx::Error> {
    let before: Option<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT tenant_id, name, revoked_at FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((tenant_id, name, revoked_at)) = before else { return Ok(false) };
    if revoked_at.is_some() {
        return Ok(true);
    }
    sqlx::query("UPDATE agents SET revoked_at = $2 WHERE id = $1").bind(agent_id).bind(now).execute(&mut *conn).await?;
    let change = Change {
        actor,
        tenant_id: Some(&tenant_id),
        action: AuditAction::AgentRevoked,
        old_value: Some(json!({"agent_id": agent_id, "agent_name": name, "revoked_at": null})),
        new_value: Some(json!({"agent_id": agent_id, "agent_name": name, "revoked_at": now})),
        at: now,
    };
    audit::record(conn, change).await?;
    Ok(true)
}

/// Deploys an agent, creating its tenant first when `new_tenant` names one that does not
/// exist. Both happen in one transaction: a failed deploy leaves no tenant behind.
/// Asking to set a limit on a tenant that already exists is a conflict, never a silent no-op.
pub async fn deploy(
    db: &Db,
    tenant: NewTenant,
    agent_name: String,
    actor: &str,
    now: i64,
) -> Result<DeployedAgent, AppError> {
    deploy_with_defaults(db, tenant, &TenantDefaults::default(), agent_name, actor, now).await
}

/// [`deploy`], where a tenant it creates without a token limit gets the default one and the
/// default budget, if configured.
pub async fn deploy_with_defaults(
    db: &Db,
    tenant: NewTenant,
    defaults: &TenantDefaults,
    agent_name: String,
    actor: &str,
    now: i64,
) -> Result<DeployedAgent, AppError> {
    let mut tx = db.begin_write().await?;
    let to_create = NewTenant { token_limit: tenant.token_limit.or(defaults.token_limit), ..tenant.clone() };
    let created = tenants::create(&mut tx, &to_create, actor, now).await?;
    if created && defaults.budget.is_some() {
        tenants::set_budget(&mut tx, &tenant.id, defaults.budget.as_ref(), actor, now).await?;
    }
    if !created && tenant.token_limit.is_some() {
        return Err(AppError::Conflict {
            field: Some("token_limit".into()),
            message: format!(
                "Tenant {} already exists; its token limit was not changed. Edit it from the usage table.",
                tenant.id
            ),
        });
    }
    let key = keys::generate();
    let (agent_id,): (i64,) = sqlx::query_as(
        "INSERT INTO agents (tenant_id, name, api_key_hash, api_key_prefix, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(tenant.id.as_str())
    .bind(&agent_name)
    .bind(&key.hash)
    .bind(&key.prefix)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let change = Change {
        actor,
        tenant_id: Some(tenant.id.as_str()),
        action: AuditAction::AgentDeployed,
        old_value: None,
        new_value: Some(json!({"agent_id": agent_id, "agent_name": agent_name, "api_key_prefix": key.prefix})),
        at: now,
    };
    audit::record(&mut tx, change).await?;
    tx.commit().await?;
    Ok(DeployedAgent {
        agent_id,
        agent_name,
        tenant_id: tenant.id.to_string(),
        tenant_created: created,
        api_key: key.key,
    })
}
