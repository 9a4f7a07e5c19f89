//! What a call costs, in integer micro-USD (1e-6 USD) so that every sum is exact.
//!
//! Two sources price a call, behind one trait ([`PriceBook`]): the operator's price file
//! ([`PriceTable`], exact integer arithmetic, here) and, for every model the file does not
//! name, pydantic's kept price database (`usage::price_db`, server only). This module is pure
//! and compiled into both halves, because [`CostSource`] is shown in the console.

use super::tokens::TokenUsage;
use serde::{Deserialize, Serialize};

/// One model's prices, micro-USD per million tokens (= USD per token × 1e12). A cache price
/// the file leaves out is charged at the input price (1-hour writes at the 5-minute price).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub input_micros_per_mtok: i64,
    pub output_micros_per_mtok: i64,
    pub cache_read_micros_per_mtok: Option<i64>,
    pub cache_write_5m_micros_per_mtok: Option<i64>,
    pub cache_write_1h_micros_per_mtok: Option<i64>,
}

impl ModelPrice {
    /// Input and output prices only.
    pub fn plain(input_micros_per_mtok: i64, output_micros_per_mtok: i64) -> Self {
        Self {
            input_micros_per_mtok,
            output_micros_per_mtok,
            cache_read_micros_per_mtok: None,
            cache_write_5m_micros_per_mtok: None,
            cache_write_1h_micros_per_mtok: None,
        }
    }

    fn cache_read(&self) -> i64 {
        self.cache_read_micros_per_mtok.unwrap_or(self.input_micros_per_mtok)
    }

    fn cache_write_5m(&self) -> i64 {
        self.cache_write_5m_micros_per_mtok.unwrap_or(self.input_micros_per_mtok)
    }

    fn cache_write_1h(&self) -> i64 {
        self.cache_write_1h_micros_per_mtok.unwrap_or_else(|| self.cache_write_5m())
    }

    /// The call's exact cost rounded half up to a micro-dollar: uncached input, cache reads,
    /// 5-minute and 1-hour writes and output (reasoning included) each at their price.
    pub fn cost_micros(&self, usage: &TokenUsage) -> i64 {
        let numerator: i128 = [
            (usage.uncached_input_tokens(), self.input_micros_per_mtok),
            (usage.cache_read_tokens, self.cache_read()),
            (usage.cache_write_5m_tokens, self.cache_write_5m()),
            (usage.cache_write_1h_tokens, self.cache_write_1h()),
            (usage.output_tokens, self.output_micros_per_mtok),
        ]
        .iter()
        .map(|&(tokens, price)| i128::from(tokens) * i128::from(price))
        .sum();
        ((numerator + 500_000).div_euclid(1_000_000)) as i64
    }

    /// What `tokens` estimated tokens reserve: every one at the dearest price the model has,
    /// rounded up, so an estimate covers any mix of input, cache writes and output.
    pub fn estimate_micros(&self, tokens: u64) -> u64 {
        let dearest = [
            self.input_micros_per_mtok,
            self.output_micros_per_mtok,
            self.cache_read(),
            self.cache_write_5m(),
            self.cache_write_1h(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
        .max(0) as u128;
        (u128::from(tokens) * dearest).div_ceil(1_000_000).min(u128::from(u64::MAX)) as u64
    }
}

/// Where a recorded cost came from; each event's answer keeps it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The agent sent `cost_usd`.
    Reported,
    /// Priced from the operator's `--price-file`.
    PriceFile,
    /// Priced from the bundled `genai-prices` database, at the event's time.
    #[default]
    GenaiPrices,
    /// Priced from the hand-kept table of Tollgate before 0.2; only old events say this.
    PriceTable,
    /// No price for the model and no cost was sent: recorded at $0 and flagged.
    UnknownModel,
}

impl CostSource {
    /// As stored in `usage_events.cost_source` and sent in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::PriceFile => "price_file",
            Self::GenaiPrices => "genai_prices",
            Self::PriceTable => "price_table",
            Self::UnknownModel => "unknown_model",
        }
    }
}

/// Anything that prices calls: the operator's table alone (tests), or the server's prices.
pub trait PriceBook {
    /// A call's cost in micro-USD and where it came from; an unknown model costs 0 and says so.
    /// `provider` (`openai`, `anthropic`, …) narrows the search when the upstream is known;
    /// `at_ms` picks the prices in force when the call was made.
    fn cost_micros(&self, model: &str, provider: Option<&str>, usage: &TokenUsage, at_ms: i64) -> (i64, CostSource);

    /// What a check reserves for `tokens` estimated tokens of `model`, rounded up so that it
    /// covers the call's cost however the tokens split between input, cache and output.
    fn estimate_micros(&self, model: &str, provider: Option<&str>, tokens: u64, at_ms: i64) -> u64;
}

/// The operator's prices: model names, or prefixes ending in `*` (`gpt-4o-*`), each with its
/// prices. A name wins over a prefix and a longer prefix over a shorter one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    /// Sorted by pattern, so exact names are a binary search.
    entries: Vec<(String, ModelPrice)>,
}

impl PriceTable {
    /// A table of these entries (a later entry for the same name wins).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, ModelPrice)>) -> Self {
        let mut map = std::collections::BTreeMap::new();
        for (name, price) in entries {
            map.insert(name, price);
        }
        Self { entries: map.into_iter().collect() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The price of a model: its exact name, else the longest `prefix*` it starts with.
    pub fn price_of(&self, model: &str) -> Option<ModelPrice> {
        if let Ok(i) = self.entries.binary_search_by(|(name, _)| name.as_str().cmp(model)) {
            return Some(self.entries[i].1);
        }
        self.entries
            .iter()
            .filter_map(|(name, price)| Some((name.strip_suffix('*')?, price)))
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, price)| *price)
    }
}

impl PriceBook for PriceTable {
    fn cost_micros(&self, model: &str, _provider: Option<&str>, usage: &TokenUsage, _at_ms: i64) -> (i64, CostSource) {
        match self.price_of(model) {
            Some(price) => (price.cost_micros(usage), CostSource::PriceFile),
            None => (0, CostSource::UnknownModel),
        }
    }

    fn estimate_micros(&self, model: &str, _provider: Option<&str>, tokens: u64, _at_ms: i64) -> u64 {
        self.price_of(model).map_or(0, |price| price.estimate_micros(tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> PriceTable {
        PriceTable::from_entries([
            ("gpt-4o".to_owned(), ModelPrice::plain(2_500_000, 10_000_000)),
            ("gpt-4o-mini*".to_owned(), ModelPrice::plain(150_000, 600_000)),
            ("in-house*".to_owned(), ModelPrice::plain(3, 4)),
            ("in-house-v2-long*".to_owned(), ModelPrice::plain(5, 6)),
        ])
    }

    #[test]
    fn the_stored_name_of_a_source_is_its_json_name() {
        for source in [
            CostSource::Reported,
            CostSource::PriceFile,
            CostSource::GenaiPrices,
            CostSource::PriceTable,
            CostSource::UnknownModel,
        ] {
            assert_eq!(serde_json::to_value(source).ok(), Some(serde_json::Value::from(source.as_str())));
        }
    }

    #[test]
    fn names_are_exact_and_prefixes_say_so() {
        let t = table();
        let input = |m: &str| t.price_of(m).map(|p| p.input_micros_per_mtok);
        assert_eq!(input("gpt-4o"), Some(2_500_000));
        // `gpt-4o` is a name, not a prefix: a dated model is not priced by it.
        assert_eq!(input("gpt-4o-2024-08-06"), None);
        assert_eq!(input("gpt-4o-mini-2024-07-18"), Some(150_000));
        assert_eq!(input("in-house-v2-long-ctx"), Some(5));
        assert_eq!(input("in-house-v1"), Some(3));
        let usage = TokenUsage::plain(1_000_000, 1_000_000);
        assert_eq!(t.cost_micros("gpt-4o", None, &usage, 0), (12_500_000, CostSource::PriceFile));
        assert_eq!(t.cost_micros("unknown", None, &usage, 0), (0, CostSource::UnknownModel));
        assert_eq!(t.estimate_micros("gpt-4o", None, 1000, 0), 10_000);
        assert_eq!(t.estimate_micros("unknown", None, 1000, 0), 0);
    }

    #[test]
    fn cache_tokens_without_their_own_price_cost_the_input_price() {
        let usage = TokenUsage {
            input_tokens: 1_000_000,
            cache_read_tokens: 400_000,
            cache_write_5m_tokens: 100_000,
            cache_write_1h_tokens: 100_000,
            ..TokenUsage::default()
        };
        let plain = ModelPrice::plain(3_000_000, 15_000_000);
        assert_eq!(plain.cost_micros(&usage), 3_000_000);
        // Claude Sonnet 4.5's published prices: $3 input, $0.30 cache read, $3.75 5-minute
        // and $6 1-hour writes per Mtok: 0.4×3 + 0.4×0.3 + 0.1×3.75 + 0.1×6 = $2.295.
        let cached = ModelPrice {
            cache_read_micros_per_mtok: Some(300_000),
            cache_write_5m_micros_per_mtok: Some(3_750_000),
            cache_write_1h_micros_per_mtok: Some(6_000_000),
            ..plain
        };
        assert_eq!(cached.cost_micros(&usage), 2_295_000);
        // Only a 5-minute price: reads cost the input price, 1-hour writes the 5-minute price.
        let five_only = ModelPrice { cache_write_5m_micros_per_mtok: Some(3_750_000), ..plain };
        assert_eq!(five_only.cost_micros(&usage), 1_200_000 + 1_200_000 + 375_000 + 375_000);
    }

    fn usage_strategy() -> impl Strategy<Value = TokenUsage> {
        (0i64..10_000_000, 0i64..10_000_000, 0u32..=100, 0u32..=100, 0u32..=100, 0u32..=100).prop_map(
            |(input, output, read, w5, w1, reasoning)| {
                let part = |n: i64, pct: u32| n * i64::from(pct) / 300;
                TokenUsage {
                    input_tokens: input,
                    output_tokens: output,
                    cache_read_tokens: part(input, read),
                    cache_write_5m_tokens: part(input, w5),
                    cache_write_1h_tokens: part(input, w1),
                    reasoning_tokens: output * i64::from(reasoning) / 100,
                }
            },
        )
    }

    fn price_strategy() -> impl Strategy<Value = ModelPrice> {
        let p = 0i64..100_000_000;
        (
            p.clone(),
            p.clone(),
            proptest::option::of(p.clone()),
            proptest::option::of(p.clone()),
            proptest::option::of(p),
        )
            .prop_map(|(i, o, r, w5, w1)| ModelPrice {
                input_micros_per_mtok: i,
                output_micros_per_mtok: o,
                cache_read_micros_per_mtok: r,
                cache_write_5m_micros_per_mtok: w5,
                cache_write_1h_micros_per_mtok: w1,
            })
    }

    proptest! {
        /// Each call's cost is the exact rational cost rounded half up to a micro-dollar. The
        /// oracle sums the call token by kind in exact rationals (numerator over 1e6), with the
        /// fallback rules written out here, not taken from the code under test.
        #[test]
        fn a_cost_is_the_exact_cost_rounded(usage in usage_strategy(), price in price_strategy()) {
            prop_assert_eq!(usage.check(), Ok(()));
            let read = price.cache_read_micros_per_mtok.unwrap_or(price.input_micros_per_mtok);
            let w5 = price.cache_write_5m_micros_per_mtok.unwrap_or(price.input_micros_per_mtok);
            let w1 = price.cache_write_1h_micros_per_mtok.unwrap_or(w5);
            let uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_5m_tokens - usage.cache_write_1h_tokens;
            let exact_numerator = uncached as i128 * price.input_micros_per_mtok as i128
                + usage.cache_read_tokens as i128 * read as i128
                + usage.cache_write_5m_tokens as i128 * w5 as i128
                + usage.cache_write_1h_tokens as i128 * w1 as i128
                + usage.output_tokens as i128 * price.output_micros_per_mtok as i128;
            let cost = price.cost_micros(&usage) as i128;
            // Rounded half up: cost − ½ ≤ exact < cost + ½.
            prop_assert!(2_000_000 * cost - 1_000_000 <= 2 * exact_numerator);
            prop_assert!(2 * exact_numerator < 2_000_000 * cost + 1_000_000);
        }

        /// An estimate never under-reserves: it covers the cost of any call of that many tokens.
        #[test]
        fn an_estimate_covers_any_split(usage in usage_strategy(), price in price_strategy()) {
            prop_assert!(price.estimate_micros(usage.total() as u64) as i64 >= price.cost_micros(&usage));
        }
    }

    proptest! {
        // A million additions per case: a few cases suffice.
        #![proptest_config(ProptestConfig::with_cases(8))]

        /// A million events of varying size, summed in integer micro-dollars as the counters
        /// do, against the exact rational total (kept as a u128 numerator over 1e6): never more
        /// than half a micro-dollar per event apart, so no drift accumulates.
        #[test]
        fn a_million_costs_sum_without_drift(seed in any::<u64>(), pi in 0i64..20_000_000, po in 0i64..80_000_000) {
            let price = ModelPrice::plain(pi, po);
            let events: i64 = 1_000_000;
            let (mut total, mut exact_numerator, mut x) = (0i64, 0i128, seed | 1);
            for _ in 0..events {
                // xorshift: event sizes from 0 to 4095 tokens each way.
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                let (i, o) = ((x & 4095) as i64, ((x >> 12) & 4095) as i64);
                total += price.cost_micros(&TokenUsage::plain(i, o));
                exact_numerator += i as i128 * pi as i128 + o as i128 * po as i128;
            }
            let diff = 1_000_000 * total as i128 - exact_numerator;
            prop_assert!(2 * diff.abs() <= events as i128 * 1_000_000, "drift {diff} / 1e6 micro-USD");
        }
    }
}
