//! USD budgets: the rules (pure: validation, states and colours, block amount, alerts,
//! projection), the spend trend and chart geometry (pure), the tenant budget page, the server
//! functions behind it and the LiteLLM sync.

#[cfg(feature = "ssr")]
pub mod litellm;
#[cfg(feature = "ssr")]
pub mod manage;
pub mod page;
pub mod rules;
pub mod server_fns;
pub mod trend;

pub use rules::{AlertKind, BudgetConfig, BudgetDuration, BudgetForm, BudgetState};

use crate::alerts::AlertPage;
use serde::{Deserialize, Serialize};
use trend::SpendTrend;

/// Everything the budget page shows about one tenant's current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetOverview {
    pub tenant_id: String,
    pub display_name: String,
    /// `None`: no budget yet (the form offers the defaults).
    pub budget: Option<BudgetConfig>,
    pub spend_micros: i64,
    /// Spend held by admitted calls that have not reported yet.
    pub reserved_micros: i64,
    /// Events this period whose model had no price, recorded at $0.
    pub unpriced_events: i64,
    pub period_start: i64,
    pub resets_at: i64,
    /// The current period's length in days (a duration saved mid-period begins at its reset).
    pub current_period_days: u32,
    /// When periods of the configured duration begin, if that is a later reset.
    pub duration_begins_at: Option<i64>,
    /// The highest block amount a tenant admin may save (`None`: no ceiling).
    pub budget_ceiling_micros: Option<i64>,
    /// Whether the viewer may change the ceiling (system admins).
    pub can_set_ceiling: bool,
    /// The server's clock when this was read, for "(25 days)".
    pub now: i64,
    pub alerts: AlertPage,
    pub trend: SpendTrend,
    /// Saving also updates the tenant's LiteLLM virtual key.
    pub litellm_synced: bool,
    /// Where `spend_micros` was read.
    pub spend_source: SpendSource,
}

/// Where the budget page's spend comes from. Enforcement always uses the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpendSource {
    /// Tollgate's own counters (the default).
    #[default]
    Ledger,
    /// LiteLLM's `/key/info` for the tenant's virtual key, read at most once a minute.
    #[serde(rename = "litellm")]
    LiteLlm,
}

impl BudgetOverview {
    pub fn state(&self) -> Option<BudgetState> {
        self.budget.map(|b| b.state(self.spend_micros))
    }
}
