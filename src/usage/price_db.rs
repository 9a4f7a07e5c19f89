//! The server's prices: the operator's `--price-file` first, then pydantic's `genai-prices`
//! database (bundled in the crate: 47 providers, cache and long-context tier prices, price
//! history). Server only, so the database never reaches the WebAssembly bundle.
//!
//! The database answers in `f64` dollars. One rule turns that into integer micro-dollars, here
//! and nowhere else: the figure is snapped to 1e-10 USD — the database's prices have at most
//! four decimals per million tokens, so every true cost is a whole number of 1e-10 USD and
//! `f64`'s error (≤ 5e-9 relative in the library's own tests, far less at these magnitudes) is
//! removed — then rounded half up to a micro-dollar (estimates round up).

use super::pricing::{CostSource, PriceBook, PriceTable};
use super::tokens::TokenUsage;
use genai_prices::{Calculator, ErrorKind, PriceRequest, Usage, UsageKey};
use std::time::{Duration, UNIX_EPOCH};

/// Ten-thousandths of a micro-dollar (1e-10 USD) per micro-dollar.
const SUB_MICROS: i128 = 10_000;

/// The prices in force.
#[derive(Debug, Clone)]
pub struct Prices {
    file: PriceTable,
    database: &'static Calculator,
}

impl Default for Prices {
    fn default() -> Self {
        Self::with_file(PriceTable::default())
    }
}

impl Prices {
    /// The operator's table over the bundled database. Decodes the database on first use
    /// (tens of milliseconds), so call it at start-up.
    pub fn with_file(file: PriceTable) -> Self {
        Self { file, database: Calculator::bundled() }
    }

    /// The database's price of `usage`, in 1e-10 USD; `None` when it does not know the model.
    fn database_sub_micros(&self, model: &str, provider: Option<&str>, usage: &Usage, at_ms: i64) -> Option<i128> {
        let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap_or(0));
        let ask = |provider: Option<&str>| {
            let mut request = PriceRequest::new(model, usage).with_timestamp(at);
            if let Some(provider) = provider {
                request = request.with_provider_id(provider);
            }
            self.database.calculate(&request)
        };
        let calculation = match ask(provider) {
            // An upstream's provider the database does not list: search every provider.
            Err(e) if provider.is_some() && e.kind() == ErrorKind::ProviderNotFound => ask(None),
            other => other,
        }
        .ok()?;
        let sub_micros = (calculation.total_price * 1e10).round();
        (sub_micros.is_finite() && sub_micros >= 0.0).then_some(sub_micros as i128)
    }
}

/// Our token model in the database's terms: there too `input_tokens` counts every prompt
/// token, cache reads and writes are parts of it, and `cache_write_tokens` is both kinds of
/// write with `cache_write_1h_tokens` a part of that.
fn database_usage(usage: &TokenUsage) -> Usage {
    let mut out = Usage::from([
        (UsageKey::INPUT_TOKENS, usage.input_tokens as f64),
        (UsageKey::OUTPUT_TOKENS, usage.output_tokens as f64),
    ]);
    for (key, n) in [
        (UsageKey::CACHE_READ_TOKENS, usage.cache_read_tokens),
        (UsageKey::CACHE_WRITE_TOKENS, usage.cache_write_tokens()),
        (UsageKey::CACHE_WRITE_1H_TOKENS, usage.cache_write_1h_tokens),
    ] {
        if n > 0 {
            out.insert(key, n as f64);
        }
    }
    out
}

fn half_up(sub_micros: i128) -> i64 {
    ((sub_micros + SUB_MICROS / 2) / SUB_MICROS).min(i128::from(i64::MAX)) as i64
}

impl PriceBook for Prices {
    fn cost_micros(&self, model: &str, provider: Option<&str>, usage: &TokenUsage, at_ms: i64) -> (i64, CostSource) {
        if self.file.price_of(model).is_some() {
            return self.file.cost_micros(model, provider, usage, at_ms);
        }
        match self.database_sub_micros(model, provider, &database_usage(usage), at_ms) {
            Some(sub_micros) => (half_up(sub_micros), CostSource::GenaiPrices),
            None => (0, CostSource::UnknownModel),
        }
    }

    /// With `T` tokens the call is dearest when every input token is a 1-hour cache write or
    /// every token is output; both are priced with `T` input tokens, so a long-context tier
    /// that `T` would reach applies. The larger, rounded up, covers any split.
    fn estimate_micros(&self, model: &str, provider: Option<&str>, tokens: u64, at_ms: i64) -> u64 {
        if self.file.price_of(model).is_some() {
            return self.file.estimate_micros(model, provider, tokens, at_ms);
        }
        let t = tokens as f64;
        let price = |pairs: &[(UsageKey, f64)]| {
            self.database_sub_micros(model, provider, &Usage::from_iter(pairs.iter().cloned()), at_ms)
        };
        let Some(input_only) = price(&[(UsageKey::INPUT_TOKENS, t)]) else { return 0 };
        let all_writes = price(&[
            (UsageKey::INPUT_TOKENS, t),
            (UsageKey::CACHE_WRITE_TOKENS, t),
            (UsageKey::CACHE_WRITE_1H_TOKENS, t),
        ])
        .unwrap_or(input_only);
        let all_output =
            price(&[(UsageKey::INPUT_TOKENS, t), (UsageKey::OUTPUT_TOKENS, t)]).map_or(0, |both| both - input_only);
        let dearest = input_only.max(all_writes).max(all_output).max(0);
        ((dearest + SUB_MICROS - 1) / SUB_MICROS).min(i128::from(i64::MAX)) as u64
    }
}

#[cfg(test)]
mod tests {
    //! Expected figures are worked out by hand from the providers' published prices (USD per
    //! million tokens), so tokens × price is the cost in micro-USD.
    use super::*;
    use proptest::prelude::*;

    /// 2026-01-15, when every price below was in force.
    const JAN_2026: i64 = 1_768_435_200_000;

    fn cost(model: &str, provider: Option<&str>, usage: TokenUsage) -> (i64, CostSource) {
        Prices::default().cost_micros(model, provider, &usage, JAN_2026)
    }

    #[test]
    fn prices_cache_reads_and_writes_as_anthropic_publishes_them() {
        // Claude Sonnet 4.5: $3 input, $0.30 cache read, $3.75 5-minute write, $6 1-hour
        // write, $15 output. 1000×3 + 6000×0.3 + 2000×3.75 + 1000×6 + 500×15 = 25,800.
        let usage = TokenUsage {
            input_tokens: 10_000,
            cache_read_tokens: 6_000,
            cache_write_5m_tokens: 2_000,
            cache_write_1h_tokens: 1_000,
            output_tokens: 500,
            reasoning_tokens: 0,
        };
        assert_eq!(cost("claude-sonnet-4-5-20250929", Some("anthropic"), usage), (25_800, CostSource::GenaiPrices));
        // Claude Opus 4.5 is $5 / $25, not Opus 4's $15 / $75.
        assert_eq!(cost("claude-opus-4-5", None, TokenUsage::plain(1_000_000, 1_000_000)).0, 30_000_000);
    }

    #[test]
    fn prices_openai_cached_and_reasoning_tokens() {
        // gpt-4o: $2.50 input, $1.25 cached input, $10 output: 976×2.5 + 1024×1.25 + 300×10.
        let cached = TokenUsage { input_tokens: 2_000, cache_read_tokens: 1_024, ..TokenUsage::plain(2_000, 300) };
        assert_eq!(cost("gpt-4o", Some("openai"), cached).0, 2_440 + 1_280 + 3_000);
        // gpt-5: reasoning is output: 1000×1.25 + 2000×10.
        let reasoning = TokenUsage { reasoning_tokens: 1_500, ..TokenUsage::plain(1_000, 2_000) };
        assert_eq!(cost("gpt-5", Some("openai"), reasoning).0, 1_250 + 20_000);
    }

    #[test]
    fn prices_long_context_at_its_tier() {
        // Claude Sonnet 4.5 above 200k input tokens: $6 input, $22.50 output for the whole call.
        assert_eq!(cost("claude-sonnet-4-5", Some("anthropic"), TokenUsage::plain(250_000, 1_000)).0, 1_522_500);
    }

    #[test]
    fn prices_at_the_events_time_and_flags_unknown_models() {
        // o3 was $10 / $40 until 2025-06-10, then $2 / $8.
        let prices = Prices::default();
        let usage = TokenUsage::plain(1_000_000, 0);
        let may_2025 = 1_746_057_600_000;
        assert_eq!(prices.cost_micros("o3", Some("openai"), &usage, may_2025).0, 10_000_000);
        assert_eq!(prices.cost_micros("o3", Some("openai"), &usage, JAN_2026).0, 2_000_000);
        assert_eq!(cost("in-house-llm", None, usage), (0, CostSource::UnknownModel));
        // A provider the database does not list: the model is still found.
        assert_eq!(cost("gpt-4o", Some("our-gateway"), TokenUsage::plain(1_000, 0)).0, 2_500);
    }

    #[test]
    fn the_operators_file_wins_per_model() {
        let file = PriceTable::from_entries([(
            "gpt-4o".to_owned(),
            super::super::pricing::ModelPrice::plain(1_000_000, 2_000_000),
        )]);
        let prices = Prices::with_file(file);
        let usage = TokenUsage::plain(1_000, 1_000);
        assert_eq!(prices.cost_micros("gpt-4o", None, &usage, JAN_2026), (3_000, CostSource::PriceFile));
        assert_eq!(prices.cost_micros("gpt-4o-mini", None, &usage, JAN_2026).1, CostSource::GenaiPrices);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// An estimate covers the cost of any call of that many tokens, cache writes and long
        /// contexts included, for models with and without tiers.
        #[test]
        fn an_estimate_covers_any_call(model in prop::sample::select(vec!["claude-sonnet-4-5", "claude-opus-4-5", "gpt-4o", "gpt-5", "gemini-2.5-pro"]),
                                       input in 0i64..400_000, output in 0i64..100_000,
                                       read in 0u32..=100, w5 in 0u32..=100, w1 in 0u32..=100) {
            let part = |pct: u32| input * i64::from(pct) / 300;
            let usage = TokenUsage {
                input_tokens: input,
                output_tokens: output,
                cache_read_tokens: part(read),
                cache_write_5m_tokens: part(w5),
                cache_write_1h_tokens: part(w1),
                reasoning_tokens: 0,
            };
            let prices = Prices::default();
            let (cost, source) = prices.cost_micros(model, None, &usage, JAN_2026);
            prop_assert_eq!(source, CostSource::GenaiPrices);
            let estimate = prices.estimate_micros(model, None, usage.total() as u64, JAN_2026);
            prop_assert!(estimate as i64 >= cost, "{model}: estimate {estimate} < cost {cost} for {usage:?}");
        }
    }
}
