//! Tenants: the id rule (pure), the store, and the lookup the deploy modal debounces on.

pub mod id;
pub mod page;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod store;

pub use id::TenantId;

use crate::agents::AgentSummary;
use crate::limits::EnforcementMode;
use crate::overrides::UserOverride;
use crate::usage::UsageRow;
use serde::{Deserialize, Serialize};

/// What the console learns about a tenant id it asks after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLookup {
    pub tenant_id: String,
    /// `None` when no tenant has this id.
    pub display_name: Option<String>,
    pub token_limit: Option<u64>,
}

impl TenantLookup {
    pub fn exists(&self) -> bool {
        self.display_name.is_some()
    }
}

/// Everything the tenant page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantOverview {
    /// The current period's usage.
    pub usage: UsageRow,
    pub period_start: i64,
    pub resets_at: i64,
    /// The server's clock when this was read, for "(25 days)".
    pub now: i64,
    pub agents: Vec<AgentSummary>,
    /// Events this period recorded at $0 for want of a price.
    #[serde(default)]
    pub unpriced_events: i64,
    /// The mode the tenant's calls are decided in, and whether it is the server's default.
    pub mode: EnforcementMode,
    pub mode_is_default: bool,
    /// Calls monitor mode let through this period that enforce would have refused.
    pub would_refuse_count: i64,
    /// The tenant's per-user overrides with each user's tokens this period.
    pub overrides: Vec<UserOverride>,
}
