//! The audit log: who changed what, when, from what to what. Each entry is written in the same
//! transaction as the change it records (`store::record`), so neither exists without the other.

pub mod page;
pub mod server_fns;
#[cfg(feature = "ssr")]
pub mod store;

use serde::{Deserialize, Serialize};

/// What kind of change an entry records; the names are the stored `action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    TenantCreated,
    TokenLimitChanged,
    BudgetConfigUpdated,
    AgentDeployed,
    AgentRevoked,
    UserCreated,
    UserOverrideSet,
    UserOverrideRemoved,
    EnforcementModeChanged,
    ApiTokenCreated,
    ApiTokenRevoked,
    BudgetCeilingChanged,
    UserDisabled,
    UserEnabled,
    PasswordSet,
    UserSignedOutEverywhere,
}

impl AuditAction {
    pub const ALL: [Self; 16] = [
        Self::TenantCreated,
        Self::TokenLimitChanged,
        Self::BudgetConfigUpdated,
        Self::AgentDeployed,
        Self::AgentRevoked,
        Self::UserCreated,
        Self::UserOverrideSet,
        Self::UserOverrideRemoved,
        Self::EnforcementModeChanged,
        Self::ApiTokenCreated,
        Self::ApiTokenRevoked,
        Self::BudgetCeilingChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::PasswordSet,
        Self::UserSignedOutEverywhere,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantCreated => "tenant_created",
            Self::TokenLimitChanged => "token_limit_changed",
            Self::BudgetConfigUpdated => "budget_config_updated",
            Self::AgentDeployed => "agent_deployed",
            Self::AgentRevoked => "agent_revoked",
            Self::UserCreated => "user_created",
            Self::UserOverrideSet => "user_override_set",
            Self::UserOverrideRemoved => "user_override_removed",
            Self::EnforcementModeChanged => "enforcement_mode_changed",
            Self::ApiTokenCreated => "api_token_created",
            Self::ApiTokenRevoked => "api_token_revoked",
            Self::BudgetCeilingChanged => "budget_ceiling_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::PasswordSet => "password_set",
            Self::UserSignedOutEverywhere => "user_signed_out_everywhere",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// One entry as the console shows it; the values are the JSON text as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub tenant_id: Option<String>,
    pub action: AuditAction,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// The actors of changes not made by a console user.
pub mod actors {
    /// The `tollgate` command line.
    pub const CLI: &str = "cli";
    /// `TOLLGATE_BOOTSTRAP_ADMIN` at start-up.
    pub const BOOTSTRAP: &str = "bootstrap";
    /// Demo data.
    pub const DEMO: &str = "demo";
}

/// Entries per page.
pub const AUDIT_PAGE_SIZE: u32 = 25;

/// A stored value (JSON) as the log shows it: each field as `label: value` in words — money in
/// dollars, percentages with `%`, nothing as "none" — instead of raw JSON. Text that is not a
/// JSON object is shown as it is.
pub fn describe_value(json: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(json) else {
        return vec![json.to_owned()];
    };
    fields
        .iter()
        .map(|(key, value)| {
            let (label, unit) = match key.strip_suffix("_usd") {
                Some(base) => (base, Unit::Dollars),
                None => match key.strip_suffix("_pct") {
                    Some(base) => (base, Unit::Percent),
                    None => (key.as_str(), Unit::Plain),
                },
            };
            format!("{}: {}", label.replace('_', " "), unit.show(value))
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Unit {
    Dollars,
    Percent,
    Plain,
}

impl Unit {
    fn show(self, value: &serde_json::Value) -> String {
        use serde_json::Value;
        match (self, value) {
            (_, Value::Null) => "none".to_owned(),
            (Unit::Dollars, Value::Number(n)) => {
                n.as_f64().map_or_else(|| n.to_string(), |usd| crate::format::format_usd((usd * 1e6).round() as i64))
            }
            (Unit::Percent, Value::Number(n)) => format!("{n}%"),
            (_, Value::Number(n)) => n.as_i64().map_or_else(|| n.to_string(), crate::format::format_count),
            (_, Value::String(s)) => s.clone(),
            (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
            (_, other) => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_their_stored_names() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).expect("json");
            assert_eq!(json, format!("\"{}\"", action.as_str()));
        }
        assert_eq!(AuditAction::parse("dropped_tables"), None);
    }

    #[test]
    fn values_read_as_words_not_json() {
        let budget = r#"{"alert_threshold_pct":80,"budget_duration":"30d","max_budget_usd":500.0,"token_limit":null}"#;
        assert_eq!(
            describe_value(budget),
            ["alert threshold: 80%", "budget duration: 30d", "max budget: $500.00", "token limit: none"]
        );
        assert_eq!(describe_value(r#"{"token_limit":1500000}"#), ["token limit: 1,500,000"]);
        assert_eq!(describe_value("not json"), ["not json"]);
    }
}
