//! What an agent reports after a call, and the rules a report must satisfy before it is
//! recorded. Pure: the HTTP layer deserialises [`ReportBody`], this module validates it.

use super::pricing::{CostSource, PriceTable};
use crate::budgets::rules::BudgetState;
use crate::validation::{short_text, FieldError};
use serde::{Deserialize, Serialize};

/// The most tokens one call may report in either direction; anything above is a client bug.
pub const MAX_TOKENS_PER_EVENT: i64 = 100_000_000;
/// The largest cost one call may report, in USD.
pub const MAX_COST_USD_PER_EVENT: f64 = 100_000.0;
pub const MAX_ID_CHARS: usize = 128;

/// `POST /api/agent/usage/report` as sent. Unknown fields are refused so that a typo such as
/// `input_token` is an error instead of a silently unrecorded count.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    pub event_id: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    #[serde(default)]
    pub user_id: Option<String>,
    /// The call's cost when the agent knows it; otherwise it is priced from the model table.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The reservation the check made for this call; reporting settles (releases) it.
    #[serde(default)]
    pub reservation_id: Option<String>,
}

/// A validated usage report.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReport {
    /// The idempotency key: the same id from the same tenant counts once.
    pub event_id: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub user_id: Option<String>,
    /// Cost in micro-USD (1e-6 USD), integer so that sums are exact.
    pub cost_micros: i64,
    /// Reported, priced from the table, or an unknown model recorded at 0 (and flagged).
    pub cost_source: CostSource,
    pub reservation_id: Option<String>,
}

impl UsageReport {
    pub fn total_tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }
}

impl UsageReport {
    /// Validates a report; a report without `cost_usd` is priced from `prices`.
    pub fn parse(body: ReportBody, prices: &PriceTable) -> Result<Self, FieldError> {
        let event_id = short_text("event_id", &body.event_id, MAX_ID_CHARS)?;
        let model = short_text("model", &body.model, MAX_ID_CHARS)?;
        let input_tokens = token_count("input_tokens", body.input_tokens)?;
        let output_tokens = token_count("output_tokens", body.output_tokens)?;
        let user_id = body.user_id.map(|u| short_text("user_id", &u, MAX_ID_CHARS)).transpose()?;
        let reservation_id = body.reservation_id.map(|r| short_text("reservation_id", &r, MAX_ID_CHARS)).transpose()?;
        let (cost_micros, cost_source) = match body.cost_usd {
            Some(usd) => (cost_to_micros(usd)?, CostSource::Reported),
            None => prices.cost_micros(&model, input_tokens, output_tokens),
        };
        Ok(Self { event_id, model, input_tokens, output_tokens, user_id, cost_micros, cost_source, reservation_id })
    }
}

/// What a report was answered, stored with its event so that a replay gets the same answer.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportResult {
    pub event_id: String,
    pub tenant_id: String,
    pub cost_usd: f64,
    /// The tenant's tokens this period once this event was counted.
    pub used_tokens: u64,
    pub token_limit: Option<u64>,
    pub remaining_tokens: Option<u64>,
    pub resets_at: String,
    /// How the cost was found; `unknown_model` means recorded at $0 for want of a price.
    #[serde(default)]
    pub cost_source: CostSource,
    /// The tenant's spend this period once this event was counted.
    #[serde(default)]
    pub spend_usd: f64,
    #[serde(default)]
    pub max_budget_usd: Option<f64>,
    /// `null` for a tenant without a budget.
    #[serde(default)]
    pub budget_state: Option<BudgetState>,
}

fn token_count(field: &str, n: i64) -> Result<i64, FieldError> {
    if n < 0 {
        Err(FieldError::new(field, "must not be negative"))
    } else if n > MAX_TOKENS_PER_EVENT {
        Err(FieldError::new(field, format!("must be at most {MAX_TOKENS_PER_EVENT} per call")))
    } else {
        Ok(n)
    }
}

fn cost_to_micros(usd: f64) -> Result<i64, FieldError> {
    if !usd.is_finite() || usd < 0.0 {
        return Err(FieldError::new("cost_usd", "must be a non-negative number"));
    }
    if usd > MAX_COST_USD_PER_EVENT {
        return Err(FieldError::new("cost_usd", format!("must be at most {MAX_COST_USD_PER_EVENT} per call")));
    }
    Ok((usd * 1_000_000.0).round() as i64)
}

/// Micro-USD as USD, for JSON and display.
pub fn micros_to_usd(micros: i64) -> f64 {
    micros as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(body: ReportBody) -> Result<UsageReport, FieldError> {
        UsageReport::parse(body, &PriceTable::built_in())
    }

    fn body(input: i64, output: i64) -> ReportBody {
        ReportBody {
            event_id: "e1".into(),
            model: "gpt-4o".into(),
            input_tokens: input,
            output_tokens: output,
            user_id: None,
            cost_usd: None,
            reservation_id: None,
        }
    }

    #[test]
    fn rejects_bad_counts_and_names_the_field() {
        let err = parse(body(-1, 0)).expect_err("negative");
        assert_eq!(err.field, "input_tokens");
        let err = parse(body(0, MAX_TOKENS_PER_EVENT + 1)).expect_err("absurd");
        assert_eq!(err.field, "output_tokens");
        let err = parse(ReportBody { event_id: " ".into(), ..body(1, 1) }).expect_err("empty id");
        assert_eq!(err.field, "event_id");
        let err = parse(ReportBody { cost_usd: Some(f64::NAN), ..body(1, 1) }).expect_err("nan");
        assert_eq!(err.field, "cost_usd");
    }

    #[test]
    fn reported_cost_wins_over_the_price_table() {
        let r = parse(ReportBody { cost_usd: Some(0.25), ..body(1000, 1000) }).expect("valid");
        assert_eq!(r.cost_micros, 250_000);
        assert_eq!(r.cost_source, CostSource::Reported);
        let unknown = parse(ReportBody { model: "in-house-llm".into(), ..body(1000, 1000) }).expect("valid");
        assert_eq!((unknown.cost_micros, unknown.cost_source), (0, CostSource::UnknownModel));
    }

    proptest! {
        #[test]
        fn valid_counts_are_kept_exactly(i in 0..=MAX_TOKENS_PER_EVENT, o in 0..=MAX_TOKENS_PER_EVENT) {
            let r = parse(body(i, o)).expect("valid");
            prop_assert_eq!((r.input_tokens, r.output_tokens), (i, o));
            prop_assert!(r.cost_micros >= 0);
        }
    }
}
