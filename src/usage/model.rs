//! The usage table's shared types: one row per tenant for the current period, and the query
//! (filter, sort, page) that selects which rows. Parsing a query never fails: unknown values
//! fall back to the defaults, so a hand-edited URL still shows a table.

use super::batch::Counters;
use crate::budgets::rules::{BudgetConfig, BudgetState};
use crate::limits::period::Period;
use crate::limits::{format_usage_pct, Policy, TokenLimit, UsageBand};
use crate::tenants::TenantId;
use serde::{Deserialize, Serialize};

pub const PAGE_SIZE: u32 = 50;
/// The longest filter text accepted; longer text is cut, never an error.
pub const MAX_FILTER_CHARS: usize = 100;

/// One tenant's usage in its current budget period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub tenant_id: String,
    pub display_name: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// Tokens reserved by admitted checks whose reports have not arrived yet.
    #[serde(default)]
    pub reserved_tokens: i64,
    pub cost_micros: i64,
    pub token_limit: Option<u64>,
    /// `None`: no budget.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// The tenant's own enforcement mode; `None`: the server's default.
    #[serde(default)]
    pub mode: Option<crate::limits::EnforcementMode>,
    /// How many of its users have an override.
    #[serde(default)]
    pub override_count: i64,
    /// The highest block amount its tenant admins may save (`None`: no ceiling).
    #[serde(default)]
    pub budget_ceiling_micros: Option<i64>,
}

impl UsageRow {
    /// The budget state of this period's spend (`None` without a budget).
    pub fn budget_state(&self) -> Option<BudgetState> {
        self.budget.map(|b| b.state(self.cost_micros))
    }

    fn limit(&self) -> Option<TokenLimit> {
        self.token_limit.and_then(|l| TokenLimit::new(l).ok())
    }

    /// Used tokens as a percentage of the limit (`None` without a limit).
    pub fn usage_pct(&self) -> Option<f64> {
        self.limit().map(|l| crate::limits::usage_pct(self.total_tokens.max(0) as u64, l))
    }

    /// "85.0%", or "No Limit".
    pub fn usage_pct_text(&self) -> String {
        match self.limit() {
            Some(limit) => format_usage_pct(self.total_tokens.max(0) as u64, limit),
            None => "No Limit".to_owned(),
        }
    }

    /// The colour band; a tenant without a limit is always the default band.
    pub fn band(&self) -> UsageBand {
        match self.limit() {
            Some(limit) => UsageBand::for_usage(self.total_tokens.max(0) as u64, limit),
            None => UsageBand::Default,
        }
    }
}

/// One tenant's usage in its current period, reservations included: what the status API and
/// the tenant page show, read through the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageSnapshot {
    pub tenant_id: TenantId,
    pub display_name: String,
    pub policy: Policy,
    pub period: Period,
    pub counters: Counters,
    pub reserved_tokens: u64,
    /// Spend held by open reservations, micro-USD.
    pub reserved_micros: u64,
    /// When this was read (Unix ms).
    pub now: i64,
}

impl UsageSnapshot {
    /// The snapshot as a row of the usage table.
    pub fn row(&self) -> UsageRow {
        let c = &self.counters;
        UsageRow {
            tenant_id: self.tenant_id.to_string(),
            display_name: self.display_name.clone(),
            input_tokens: c.input_tokens,
            output_tokens: c.output_tokens,
            total_tokens: c.input_tokens + c.output_tokens,
            reserved_tokens: self.reserved_tokens as i64,
            cost_micros: c.cost_micros,
            token_limit: self.policy.token_limit.map(TokenLimit::get),
            budget: self.policy.budget,
            mode: self.policy.mode,
            override_count: 0,
            budget_ceiling_micros: None,
        }
    }
}

/// One page of the usage table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagePage {
    pub rows: Vec<UsageRow>,
    /// Rows matching the filter, over all pages.
    pub total_rows: u64,
    pub query: UsageQuery,
}

impl UsagePage {
    pub fn page_count(&self) -> u32 {
        (self.total_rows.div_ceil(u64::from(PAGE_SIZE)).max(1)).min(u64::from(u32::MAX)) as u32
    }
}

/// The column the table is sorted by; the names are the URL values and the SQL columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    TenantId,
    InputTokens,
    OutputTokens,
    TotalTokens,
    TotalCost,
    UsagePct,
    /// Spend as a share of the max budget.
    Budget,
    /// The mode checks are decided in, strictest last (off, monitor, enforce).
    Mode,
    /// How many users have an override.
    Overrides,
}

impl SortKey {
    pub const ALL: [SortKey; 9] = [
        SortKey::TenantId,
        SortKey::InputTokens,
        SortKey::OutputTokens,
        SortKey::TotalTokens,
        SortKey::TotalCost,
        SortKey::UsagePct,
        SortKey::Budget,
        SortKey::Mode,
        SortKey::Overrides,
    ];

    /// Whether the usage table has this column (mode and override count are the Admin tab's
    /// Usage Limits list's).
    pub fn in_usage_table(self) -> bool {
        !matches!(self, SortKey::Mode | SortKey::Overrides)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::TenantId => "tenant_id",
            SortKey::InputTokens => "input_tokens",
            SortKey::OutputTokens => "output_tokens",
            SortKey::TotalTokens => "total_tokens",
            SortKey::TotalCost => "total_cost",
            SortKey::UsagePct => "usage_pct",
            SortKey::Budget => "budget",
            SortKey::Mode => "mode",
            SortKey::Overrides => "overrides",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The column heading in the console.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::TenantId => "Tenant",
            SortKey::InputTokens => "Input Tokens",
            SortKey::OutputTokens => "Output Tokens",
            SortKey::TotalTokens => "Total Tokens",
            SortKey::TotalCost => "Total Cost",
            SortKey::UsagePct => "Usage %",
            SortKey::Budget => "Budget",
            SortKey::Mode => "Mode",
            SortKey::Overrides => "Overrides",
        }
    }
}

/// Which rows of the usage table to show.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UsageQuery {
    /// Case-insensitive substring of the tenant id or display name.
    pub q: String,
    pub sort: SortKey,
    pub desc: bool,
    /// 1-based.
    pub page: u32,
}

impl UsageQuery {
    /// Builds a query from URL parameters (`q`, `sort`, `dir`, `page`), defaulting anything
    /// missing or unknown.
    pub fn from_params(q: Option<&str>, sort: Option<&str>, dir: Option<&str>, page: Option<&str>) -> Self {
        Self {
            q: q.unwrap_or_default().trim().chars().take(MAX_FILTER_CHARS).collect::<String>().trim_end().to_owned(),
            sort: sort.and_then(SortKey::parse).unwrap_or_default(),
            desc: dir == Some("desc"),
            page: page.and_then(|p| p.parse().ok()).unwrap_or(1).max(1),
        }
    }

    /// Clamps a query that arrived from a client to valid values.
    pub fn normalized(self) -> Self {
        Self::from_params(
            Some(&self.q),
            Some(self.sort.as_str()),
            Some(if self.desc { "desc" } else { "asc" }),
            Some(&self.page.to_string()),
        )
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page.max(1) - 1) * u64::from(PAGE_SIZE)
    }

    /// The URL query string for this query, omitting defaults.
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        if !self.q.is_empty() {
            parts.push(format!("q={}", encode_component(&self.q)));
        }
        if self.sort != SortKey::default() {
            parts.push(format!("sort={}", self.sort.as_str()));
        }
        if self.desc {
            parts.push("dir=desc".to_owned());
        }
        if self.page > 1 {
            parts.push(format!("page={}", self.page));
        }
        if parts.is_empty() {
            "?".to_owned()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    /// The query after clicking a column heading: a new column sorts ascending (numbers
    /// descending, biggest first); the same column flips direction. Back to page 1.
    pub fn sorted_by(&self, key: SortKey) -> Self {
        let desc = if key == self.sort { !self.desc } else { key != SortKey::TenantId };
        Self { sort: key, desc, page: 1, ..self.clone() }
    }

    pub fn with_page(&self, page: u32) -> Self {
        Self { page: page.max(1), ..self.clone() }
    }
}

/// Percent-encodes a URL query component (RFC 3986 unreserved characters pass through).
pub fn encode_component(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_defaults_and_round_trip() {
        let q = UsageQuery::from_params(None, Some("bogus"), None, Some("-3"));
        assert_eq!(q, UsageQuery { q: String::new(), sort: SortKey::TenantId, desc: false, page: 1 });
        assert_eq!(q.to_query_string(), "?");
        let q = UsageQuery::from_params(Some(" ac me "), Some("usage_pct"), Some("desc"), Some("3"));
        assert_eq!(q.to_query_string(), "?q=ac%20me&sort=usage_pct&dir=desc&page=3");
        assert_eq!(q.offset(), 100);
    }

    #[test]
    fn clicking_a_heading_flips_or_switches() {
        let q = UsageQuery::default().sorted_by(SortKey::UsagePct);
        assert_eq!((q.sort, q.desc), (SortKey::UsagePct, true));
        let q = q.sorted_by(SortKey::UsagePct);
        assert_eq!((q.sort, q.desc), (SortKey::UsagePct, false));
    }

    #[test]
    fn row_shows_no_limit_and_bands() {
        let mut row = UsageRow {
            tenant_id: "a".into(),
            display_name: "a".into(),
            input_tokens: 600,
            output_tokens: 450,
            total_tokens: 1050,
            reserved_tokens: 0,
            cost_micros: 0,
            token_limit: None,
            budget: None,
            mode: None,
            override_count: 0,
            budget_ceiling_micros: None,
        };
        assert_eq!(row.usage_pct_text(), "No Limit");
        assert_eq!(row.band(), UsageBand::Default);
        row.token_limit = Some(1000);
        assert_eq!(row.usage_pct_text(), "105.0%");
        assert_eq!(row.band(), UsageBand::Danger);
    }

    proptest! {
        #[test]
        fn any_params_give_a_valid_query(q in "\\PC{0,200}", s in "\\PC{0,20}", d in "\\PC{0,5}", p in "\\PC{0,12}") {
            let query = UsageQuery::from_params(Some(&q), Some(&s), Some(&d), Some(&p));
            prop_assert!(query.page >= 1);
            prop_assert!(query.q.chars().count() <= MAX_FILTER_CHARS);
            prop_assert_eq!(query.clone().normalized(), query);
        }
    }
}
