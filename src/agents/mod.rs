//! Agents: machine clients of one tenant. Deploying one (possibly creating its tenant), their
//! API keys, and the `Principal` an authenticated key stands for.

pub mod deploy;
#[cfg(feature = "ssr")]
pub mod keys;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod store;

use crate::tenants::id::TenantId;
use crate::validation::{short_text, FieldError};
use serde::{Deserialize, Serialize};

pub const AGENT_NAME_MAX_CHARS: usize = 64;

/// An agent's display name: 1–64 characters, no control characters.
pub fn parse_agent_name(input: &str) -> Result<String, FieldError> {
    short_text("agent_name", input, AGENT_NAME_MAX_CHARS)
}

/// An authenticated agent: what every agent call acts as. It reaches its own tenant only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub agent_id: i64,
    pub tenant_id: TenantId,
}

/// An agent as the console lists it; the key itself is never shown again, only its prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub agent_id: i64,
    pub name: String,
    pub api_key_prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The result of a deploy, shown once: the API key is never retrievable again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedAgent {
    pub agent_id: i64,
    pub agent_name: String,
    pub tenant_id: String,
    /// Whether this deploy created the tenant.
    pub tenant_created: bool,
    pub api_key: String,
}
