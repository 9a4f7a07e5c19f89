//! Tenants: the id rule (pure), the store, and the lookup the deploy modal debounces on.

pub mod id;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod store;

pub use id::TenantId;

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
