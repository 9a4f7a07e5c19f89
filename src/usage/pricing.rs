//! Model prices: what a call costs when the agent does not report `cost_usd`, and what a
//! check's estimate reserves. Prices are micro-USD per million tokens, so every cost is an
//! exact integer of micro-USD. A model is found by exact name first, then by the longest
//! matching prefix (dated names such as `gpt-4o-2024-08-06` are priced as `gpt-4o`).

use serde::{Deserialize, Serialize};

/// Input and output price of one model, micro-USD per million tokens (= USD per token × 1e12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub input_micros_per_mtok: i64,
    pub output_micros_per_mtok: i64,
}

/// (model name or prefix, input, output) in USD per million tokens × 1e6.
const BUILT_IN: &[(&str, i64, i64)] = &[
    // OpenAI
    ("gpt-4o-mini", 150_000, 600_000),
    ("gpt-4o", 2_500_000, 10_000_000),
    ("gpt-4.1-nano", 100_000, 400_000),
    ("gpt-4.1-mini", 400_000, 1_600_000),
    ("gpt-4.1", 2_000_000, 8_000_000),
    ("gpt-4-turbo", 10_000_000, 30_000_000),
    ("gpt-3.5-turbo", 500_000, 1_500_000),
    ("gpt-5-nano", 50_000, 400_000),
    ("gpt-5-mini", 250_000, 2_000_000),
    ("gpt-5", 1_250_000, 10_000_000),
    ("o1-mini", 1_100_000, 4_400_000),
    ("o1", 15_000_000, 60_000_000),
    ("o3-mini", 1_100_000, 4_400_000),
    ("o3", 2_000_000, 8_000_000),
    ("o4-mini", 1_100_000, 4_400_000),
    ("text-embedding-3-small", 20_000, 0),
    ("text-embedding-3-large", 130_000, 0),
    // Anthropic
    ("claude-3-haiku", 250_000, 1_250_000),
    ("claude-3-5-haiku", 800_000, 4_000_000),
    ("claude-3-5-sonnet", 3_000_000, 15_000_000),
    ("claude-3-7-sonnet", 3_000_000, 15_000_000),
    ("claude-3-opus", 15_000_000, 75_000_000),
    ("claude-haiku-4", 1_000_000, 5_000_000),
    ("claude-sonnet-4", 3_000_000, 15_000_000),
    ("claude-opus-4", 15_000_000, 75_000_000),
    // Google
    ("gemini-1.5-flash", 75_000, 300_000),
    ("gemini-1.5-pro", 1_250_000, 5_000_000),
    ("gemini-2.0-flash", 100_000, 400_000),
    ("gemini-2.5-flash", 300_000, 2_500_000),
    ("gemini-2.5-pro", 1_250_000, 10_000_000),
    // Amazon Bedrock model ids
    ("anthropic.claude-3-haiku", 250_000, 1_250_000),
    ("anthropic.claude-3-5-haiku", 800_000, 4_000_000),
    ("anthropic.claude-3-5-sonnet", 3_000_000, 15_000_000),
    ("anthropic.claude-3-7-sonnet", 3_000_000, 15_000_000),
    ("anthropic.claude-sonnet-4", 3_000_000, 15_000_000),
    ("anthropic.claude-opus-4", 15_000_000, 75_000_000),
    ("amazon.nova-micro", 35_000, 140_000),
    ("amazon.nova-lite", 60_000, 240_000),
    ("amazon.nova-pro", 800_000, 3_200_000),
    ("meta.llama3-1-8b-instruct", 220_000, 220_000),
    ("meta.llama3-1-70b-instruct", 720_000, 720_000),
    ("mistral.mistral-large", 2_000_000, 6_000_000),
];

/// Where a recorded cost came from.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// The agent sent `cost_usd`.
    Reported,
    /// Priced from the model price table.
    #[default]
    PriceTable,
    /// The model is not in the table and no cost was sent: recorded at $0 and flagged.
    UnknownModel,
}

/// The prices in force: the built-in table, with an operator's file laid over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    /// Sorted by name, so lookups are a binary search and prefixes are found by walking back.
    entries: Vec<(String, ModelPrice)>,
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::built_in()
    }
}

impl PriceTable {
    pub fn built_in() -> Self {
        Self::from_entries(BUILT_IN.iter().map(|&(name, input, output)| {
            (name.to_owned(), ModelPrice { input_micros_per_mtok: input, output_micros_per_mtok: output })
        }))
    }

    /// A table of these entries (a later entry for the same name wins).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, ModelPrice)>) -> Self {
        let mut map = std::collections::BTreeMap::new();
        for (name, price) in entries {
            map.insert(name, price);
        }
        Self { entries: map.into_iter().collect() }
    }

    /// This table with `other`'s entries added, replacing any of the same name.
    pub fn overlaid_with(&self, other: &PriceTable) -> Self {
        Self::from_entries(self.entries.iter().chain(&other.entries).cloned())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The price of a model: its exact name, else the longest name in the table it starts with.
    pub fn price_of(&self, model: &str) -> Option<ModelPrice> {
        if let Ok(i) = self.entries.binary_search_by(|(name, _)| name.as_str().cmp(model)) {
            return Some(self.entries[i].1);
        }
        self.entries
            .iter()
            .filter(|(name, _)| model.starts_with(name.as_str()))
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| *price)
    }

    /// The cost of a call in micro-USD, rounded to the nearest micro-USD, and where it came
    /// from; an unknown model costs 0 and says so.
    pub fn cost_micros(&self, model: &str, input_tokens: i64, output_tokens: i64) -> (i64, CostSource) {
        match self.price_of(model) {
            Some(price) => (call_cost(price, input_tokens, output_tokens), CostSource::PriceTable),
            None => (0, CostSource::UnknownModel),
        }
    }

    /// What a check reserves for `tokens` estimated tokens of `model`: every token at the
    /// dearer of the two prices, rounded up, so the estimate errs towards refusing.
    pub fn estimate_micros(&self, model: &str, tokens: u64) -> u64 {
        let Some(price) = self.price_of(model) else { return 0 };
        let per_mtok = price.input_micros_per_mtok.max(price.output_micros_per_mtok).max(0) as u128;
        (u128::from(tokens) * per_mtok).div_ceil(1_000_000).min(u128::from(u64::MAX)) as u64
    }
}

/// `input × input price + output × output price`, per million tokens, rounded half up.
fn call_cost(price: ModelPrice, input_tokens: i64, output_tokens: i64) -> i64 {
    let numerator = i128::from(input_tokens) * i128::from(price.input_micros_per_mtok)
        + i128::from(output_tokens) * i128::from(price.output_micros_per_mtok);
    ((numerator + 500_000) / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prices_known_models_by_longest_prefix() {
        let t = PriceTable::built_in();
        let price = |m: &str| t.price_of(m).map(|p| (p.input_micros_per_mtok, p.output_micros_per_mtok));
        assert_eq!(price("gpt-4o-mini-2024-07-18"), Some((150_000, 600_000)));
        assert_eq!(price("gpt-4o-2024-08-06"), Some((2_500_000, 10_000_000)));
        assert_eq!(price("anthropic.claude-3-5-sonnet-20240620-v1:0"), Some((3_000_000, 15_000_000)));
        assert_eq!(price("gemini-2.5-pro"), Some((1_250_000, 10_000_000)));
        assert_eq!(price("unknown"), None);
        // 1M input + 1M output tokens of gpt-4o = $12.50.
        assert_eq!(t.cost_micros("gpt-4o", 1_000_000, 1_000_000), (12_500_000, CostSource::PriceTable));
        assert_eq!(t.cost_micros("unknown", 1_000_000, 1_000_000), (0, CostSource::UnknownModel));
        // An estimate of 1000 tokens of gpt-4o reserves them at the output price: $0.01.
        assert_eq!(t.estimate_micros("gpt-4o", 1000), 10_000);
        assert_eq!(t.estimate_micros("unknown", 1000), 0);
    }

    #[test]
    fn an_operator_table_replaces_and_adds() {
        let mine = PriceTable::from_entries([
            ("gpt-4o".to_owned(), ModelPrice { input_micros_per_mtok: 1, output_micros_per_mtok: 2 }),
            ("in-house".to_owned(), ModelPrice { input_micros_per_mtok: 3, output_micros_per_mtok: 4 }),
        ]);
        let t = PriceTable::built_in().overlaid_with(&mine);
        assert_eq!(t.price_of("gpt-4o").map(|p| p.output_micros_per_mtok), Some(2));
        assert_eq!(t.price_of("gpt-4o-mini").map(|p| p.output_micros_per_mtok), Some(600_000));
        assert_eq!(t.price_of("in-house-v2").map(|p| p.input_micros_per_mtok), Some(3));
    }

    proptest! {
        /// Each call's cost is the exact rational cost rounded half up to a micro-dollar.
        #[test]
        fn a_cost_is_the_exact_cost_rounded(i in 0i64..100_000_000, o in 0i64..100_000_000,
                                            pi in 0i64..100_000_000, po in 0i64..100_000_000) {
            let price = ModelPrice { input_micros_per_mtok: pi, output_micros_per_mtok: po };
            let cost = call_cost(price, i, o) as i128;
            // exact = (i·pi + o·po) / 1e6; rounded half up: |cost − exact| ≤ 1/2, ties up.
            let twice_numerator = 2 * (i as i128 * pi as i128 + o as i128 * po as i128);
            prop_assert!(2_000_000 * cost - 1_000_000 <= twice_numerator);
            prop_assert!(twice_numerator < 2_000_000 * cost + 1_000_000);
        }

        /// An estimate never under-reserves: it covers the call's cost for any split of the
        /// estimated tokens between input and output.
        #[test]
        fn an_estimate_covers_any_split(tokens in 0u64..10_000_000, split in 0u64..=100) {
            let t = PriceTable::built_in();
            let input = (tokens * split / 100) as i64;
            let output = tokens as i64 - input;
            let (cost, _) = t.cost_micros("claude-opus-4", input, output);
            prop_assert!(t.estimate_micros("claude-opus-4", tokens) as i64 >= cost);
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
            let price = ModelPrice { input_micros_per_mtok: pi, output_micros_per_mtok: po };
            let events: i64 = 1_000_000;
            let (mut total, mut exact_numerator, mut x) = (0i64, 0i128, seed | 1);
            for _ in 0..events {
                // xorshift: event sizes from 0 to 4095 tokens each way.
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                let (i, o) = ((x & 4095) as i64, ((x >> 12) & 4095) as i64);
                total += call_cost(price, i, o);
                exact_numerator += i as i128 * pi as i128 + o as i128 * po as i128;
            }
            let diff = 1_000_000 * total as i128 - exact_numerator;
            prop_assert!(2 * diff.abs() <= events as i128 * 1_000_000, "drift {diff} / 1e6 micro-USD");
        }
    }
}
