//! What an agent reports after a call, and the rules a report must satisfy before it is
//! recorded. Pure: the HTTP layer deserialises [`ReportBody`], this module validates it.

use super::pricing::{CostSource, PriceBook};
use super::tokens::TokenUsage;
use crate::budgets::rules::BudgetState;
use crate::validation::{short_text, FieldError};
use serde::{Deserialize, Serialize};

pub use super::tokens::MAX_TOKENS_PER_EVENT;
/// The largest cost one call may report, in USD.
pub const MAX_COST_USD_PER_EVENT: f64 = 100_000.0;
pub const MAX_ID_CHARS: usize = 128;

/// `POST /api/agent/usage/report` as sent. Unknown fields are refused so that a typo such as
/// `input_token` is an error instead of a silently unrecorded count. The cache and reasoning
/// counts are optional (a report without them means what it always meant): they are parts of
/// `input_tokens` and `output_tokens`, never added to them.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    pub event_id: String,
    pub model: String,
    /// Every prompt token, cached ones included.
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Of `input_tokens`, those read from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: i64,
    /// Of `input_tokens`, those written to a 5-minute cache.
    #[serde(default)]
    pub cache_write_5m_tokens: i64,
    /// Of `input_tokens`, those written to a 1-hour cache.
    #[serde(default)]
    pub cache_write_1h_tokens: i64,
    /// Of `output_tokens`, those spent reasoning.
    #[serde(default)]
    pub reasoning_tokens: i64,
    /// Who served the call (`openai`, `anthropic`, `google`, …), when the model name alone is
    /// ambiguous; only used to find its price.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// The call's cost when the agent knows it; otherwise it is priced from the price database.
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
    pub usage: TokenUsage,
    pub user_id: Option<String>,
    /// Cost in micro-USD (1e-6 USD), integer so that sums are exact.
    pub cost_micros: i64,
    /// Reported, priced from the price file or the database, or an unknown model recorded at 0
    /// (and flagged).
    pub cost_source: CostSource,
    pub reservation_id: Option<String>,
}

impl UsageReport {
    pub fn total_tokens(&self) -> i64 {
        self.usage.total()
    }

    /// Validates a report; a report without `cost_usd` is priced from `prices` at `at_ms`.
    pub fn parse(body: ReportBody, prices: &impl PriceBook, at_ms: i64) -> Result<Self, FieldError> {
        let event_id = short_text("event_id", &body.event_id, MAX_ID_CHARS)?;
        let model = short_text("model", &body.model, MAX_ID_CHARS)?;
        let usage = TokenUsage {
            input_tokens: body.input_tokens,
            output_tokens: body.output_tokens,
            cache_read_tokens: body.cache_read_tokens,
            cache_write_5m_tokens: body.cache_write_5m_tokens,
            cache_write_1h_tokens: body.cache_write_1h_tokens,
            reasoning_tokens: body.reasoning_tokens,
        };
        usage.check()?;
        let provider = body.provider.map(|p| short_text("provider", &p, MAX_ID_CHARS)).transpose()?;
        let user_id = body.user_id.map(|u| short_text("user_id", &u, MAX_ID_CHARS)).transpose()?;
        let reservation_id = body.reservation_id.map(|r| short_text("reservation_id", &r, MAX_ID_CHARS)).transpose()?;
        let (cost_micros, cost_source) = match body.cost_usd {
            Some(usd) => (cost_to_micros(usd)?, CostSource::Reported),
            None => prices.cost_micros(&model, provider.as_deref(), &usage, at_ms),
        };
        Ok(Self { event_id, model, usage, user_id, cost_micros, cost_source, reservation_id })
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
    use crate::usage::pricing::{ModelPrice, PriceTable};
    use proptest::prelude::*;

    fn parse(body: ReportBody) -> Result<UsageReport, FieldError> {
        let prices = PriceTable::from_entries([("gpt-4o".to_owned(), ModelPrice::plain(2_500_000, 10_000_000))]);
        UsageReport::parse(body, &prices, 0)
    }

    fn body(input: i64, output: i64) -> ReportBody {
        ReportBody {
            event_id: "e1".into(),
            model: "gpt-4o".into(),
            input_tokens: input,
            output_tokens: output,
            ..ReportBody::default()
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
        let err = parse(ReportBody { cache_read_tokens: 2, ..body(1, 1) }).expect_err("more cached than input");
        assert_eq!(err.field, "cache_read_tokens");
        let err = parse(ReportBody { reasoning_tokens: 2, ..body(1, 1) }).expect_err("more reasoning than output");
        assert_eq!(err.field, "reasoning_tokens");
    }

    #[test]
    fn cache_and_reasoning_counts_are_kept_and_priced() {
        let r = parse(ReportBody { cache_read_tokens: 600, reasoning_tokens: 100, ..body(1000, 200) }).expect("valid");
        assert_eq!((r.usage.cache_read_tokens, r.usage.reasoning_tokens, r.total_tokens()), (600, 100, 1200));
        // The table has no cache price: cached tokens cost the input price.
        assert_eq!((r.cost_micros, r.cost_source), (2_500 + 2_000, CostSource::PriceFile));
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
            prop_assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (i, o));
            prop_assert!(r.cost_micros >= 0);
        }
    }
}
