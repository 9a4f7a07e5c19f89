//! Budget alerts: which were reached (decided in the report's batch, see
//! `usage::batch::Plan::alerts`), stored at most once per tenant, period and kind, and sent
//! to a webhook by a background notifier that retries with back-off, off the report path.

#[cfg(feature = "ssr")]
pub mod notifier;
#[cfg(feature = "ssr")]
pub mod store;

use crate::budgets::rules::AlertKind;
use serde::{Deserialize, Serialize};

/// Alerts per page of the history.
pub const ALERTS_PER_PAGE: u32 = 10;

/// One stored alert, as the budget page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: i64,
    pub created_at: i64,
    pub kind: AlertKind,
    /// "80% Threshold", "100% Budget Exceeded", "Blocked", "Projected Limit".
    pub label: String,
    pub spend_micros: i64,
    pub max_budget_micros: i64,
    pub percent: f64,
    /// When the webhook accepted it; `None` while undelivered (or without a webhook).
    pub delivered_at: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// One page of a tenant's alert history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPage {
    pub alerts: Vec<AlertRecord>,
    /// 1-based.
    pub page: u32,
    pub total: u64,
}

impl AlertPage {
    pub fn page_count(&self) -> u32 {
        (self.total.div_ceil(u64::from(ALERTS_PER_PAGE)).max(1)).min(u64::from(u32::MAX)) as u32
    }
}

/// The JSON a webhook receives for one alert. `id` is stable: a receiver that sees it twice
/// (a retry after a lost answer) can tell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPayload {
    pub id: i64,
    pub tenant_id: String,
    #[serde(rename = "type")]
    pub kind: AlertKind,
    pub label: String,
    pub spend_usd: f64,
    pub max_budget_usd: f64,
    pub percent: f64,
    pub period_start: String,
    pub created_at: String,
}
